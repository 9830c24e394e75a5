"""`Experiment(config, workdir).run()`: one in-process evolution experiment,
resumable (`dispatch.run` chooses it, or the workers, and recycles it).

The in-process run is the reproduction loop (evolution/loop.py) on the
event-log population (evolution/population.py): the choices are a pure
function of the seed, and running again on the same workdir replays the log
and carries on (an individual that was mid-training is trained again from
the same key).
Generational strategies (the genetic algorithm) run the generational loop
(evolution/generational.py) on the same log.

Everything lives under `workdir`: `config.json`, `events.jsonl`,
`checkpoints/<id>/`, and at the end `results.json` and `model/`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import ml_collections
import numpy as np

from evojax_nas.evolution import events
from evojax_nas.evolution.events import EventLog
from evojax_nas.evolution.generational import Generational
from evojax_nas.evolution.loop import RecycleNeeded, SteadyState
from evojax_nas import strategies
from evojax_nas.evolution.population import LogPopulation
from evojax_nas.evolution.progress import Progress
from evojax_nas.runs.recycle import Recycler
from evojax_nas.runs.run import Run
from evojax_nas.runs.tensorboard import SummaryWriter
from evojax_nas.workdir import EVENTS, TENSORBOARD
from evojax_nas.genomes import spaces
from evojax_nas.train import trainer as trainer_lib

log = logging.getLogger("evojax_nas")

class Experiment(Run):
  """Holds the pieces of one run (its start and finish: run.py); `run()`
  drives it to its budget."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path):
    super().__init__(config, workdir, "an in-process run" if
                     not config.get("num_workers") else
                     "the workers' launcher")
    with self.starting():
      self._set_up(self.config)

  def _set_up(self, config):
    self.log = EventLog(self.workdir / EVENTS)
    self.space = spaces.make(config.search_space, config)
    self.strategy = strategies.from_config(config)
    self.population = LogPopulation(self.log, self.strategy)
    # Recorded only once the data has loaded: a failed first start (a
    # wrong data.name, a missing folder) leaves the workdir free for the
    # corrected command.
    self.record(write=False)
    self.trainer = trainer_lib.build(config, self.workdir,
                                     slots=self._recorded_slots())
    self.record(self.trainer.dataset)
    self.tensorboard = (SummaryWriter(self.workdir / TENSORBOARD)
                        if config.tensorboard else None)
    self.recycler = Recycler(config.resources)
    self.population.start_clock()

  @property
  def history(self):
    return self.population.history

  def _recorded_slots(self) -> int | None:
    """The S this run's schedule was recorded with (a resume keeps it,
    whatever the machine's devices); a log from before slots were
    recorded: 2 (one training, one compiling ahead) or, with the legacy
    `compile_ahead=False`, 1."""
    h = self.history
    if h.slots is not None or not h.individuals:
      return h.slots
    return 1 if self.config.slots_per_device == 1 else 2

  @property
  def checkpoints(self):
    return self.trainer.checkpoints

  @property
  def cache(self):
    return self.trainer.cache

  @property
  def dataset(self):
    return self.trainer.dataset

  def now(self) -> float:
    """Experiment seconds, summed over sessions (downtime not counted)."""
    return self.population.now()

  def loop(self, on_trained=()):
    """The reproduction loop of this experiment's strategy."""
    kind = Generational if self.strategy.generational else SteadyState
    return kind(self.config, space=self.space, population=self.population,
                trainer=self.trainer, recycler=self.recycler,
                root_key=jax.random.key(self.config.seed),
                on_trained=[self._log_scalars, *on_trained])

  def _log_scalars(self, event: dict):
    """TensorBoard scalars after each trained individual."""
    if self.tensorboard is None:
      return
    h = self.history
    alive = [i.val_accuracy for i in h.alive]
    n = len(h.trained)
    self.tensorboard.scalars(n, {
        "val_accuracy/individual": event["val_accuracy"],
        "val_accuracy/best": max((i.val_accuracy for i in h.top(1)),
                                  default=0.0),
        "val_accuracy/mean_alive": float(np.mean(alive)) if alive else 0.0,
        "population/alive": len(alive),
        "throughput/individuals_per_hour": 3600.0 * n / max(event["t"], 1e-9),
        "cost/flops_total": float(h.total_flops),
    })

  def run(self, loop=None) -> dict:
    """Runs the loop (default: `self.loop()`) to the budget, then writes
    the results; `RecycleNeeded` at a safe point near the process's
    limits (the lock stays held for the fresh process)."""
    h = self.history
    self.population.note(events.started(
        self.now(), resumed=bool(h.individuals), slots=self.trainer.slots,
        devices=[str(d) for d in jax.local_devices()]))
    log.info("%d slots on %s", self.trainer.slots,
             ", ".join(self.trainer.slot_devices()))
    if h.individuals:
      self._say_what_resumes()
    try:
      with Progress(self.config, h, self.now,
                    enabled=self.config.progress) as bar:
        loop = loop or self.loop(on_trained=[lambda e: bar.update()])
        loop.drop_alive_without_checkpoint()
        loop.run()
    except RecycleNeeded:
      self.close(release=False)
      raise
    except BaseException:  # a stop or an error: files closed, lock let go
      self.close()
      raise
    summary = self.finish(self.history, self.trainer, now=self.now,
                          note=self.population.note)
    self.close()
    return summary

  def _say_what_resumes(self):
    """A resume says what it does again: individuals born but not trained
    (interrupted, or their `trained` lines set aside by a repair) train
    again from their own keys; births go on from the next id."""
    h = self.history
    pending = sorted(i.id for i in h.pending)
    log.info("resuming %s: %d individuals trained%s; births go on from id "
             "%d", self.workdir, len(h.trained),
             f", {pending} born but not trained: trained again from their "
             "keys" if pending else "", h.next_id)

  def close(self, release: bool = True):
    """Stops background work and closes files; the workdir's lock goes
    too unless not `release` (a recycle hands it to the fresh process)."""
    self.trainer.close()
    if self.tensorboard is not None:
      self.tensorboard.close()
    if release:
      self.release()
