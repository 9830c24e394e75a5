"""One asynchronous worker of a shared population (Real et al. 2017, 3.1):
the reproduction loop (evolution/loop.py) on the population store
(evolution/population.py).

Each worker repeats, without talking to the others: take back an individual
whose trainer died (stale claim), or reproduce (reserve an id, ask the
strategy about the alive individuals read from the store, kill the loser —
an atomic create that fails if another worker killed it first: then ask
again — and birth a mutated copy of the winner with a claim on it); train
it with inheritance, heartbeating the claim; publish the result (atomic:
exactly one trainer's result counts); delete checkpoints nobody can need.
Keys come from the root key and the child's id, as in the in-process run,
but which individuals exist when a child is born depends on the timing of
the workers: runs with workers are not bit-reproducible.

Population size: a birth kills one individual per excess of (alive +
in training) over `population_size - 1`, so a worker killed between a kill
and a birth (size one short) or racing births (a few over) correct
themselves at the next births; a surplus left at the very end is trimmed
(the worst die) when the workers finish.
"""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import ml_collections

from evojax_nas.runs import data_record
from evojax_nas.evolution.loop import SteadyState
from evojax_nas import strategies
from evojax_nas.evolution.population import StorePopulation
from evojax_nas.runs.recycle import Recycler
from evojax_nas.evolution.store import PopulationStore
from evojax_nas.genomes import spaces
from evojax_nas.train import trainer as trainer_lib
from evojax_nas.workdir import POPULATION

log = logging.getLogger("evojax_nas")


class Worker:
  """Evolves the population in `<workdir>/population` until the budget is
  spent and no individual is left in training."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path,
               name: str):
    self.config = config
    self.workdir = Path(workdir).absolute()
    self.name = name
    w = config.workers
    self.store = PopulationStore(self.workdir / POPULATION, name,
                                 w.claim_timeout_s)
    # Joining a store nobody has worked on for a while (started by hand,
    # without the launcher): the downtime does not count.
    self.store.resume_clock(idle_s=w.claim_timeout_s)
    self.strategy = strategies.from_config(config)
    self.trainer = trainer_lib.build(config, self.workdir)
    data_record.check(self.workdir, self.trainer.dataset,
                      config.data.same_as_recorded)

  def run(self) -> int:
    """Works until the budget is spent and nothing is left in training;
    returns how many individuals this worker trained. Near its memory
    limits it raises `RecycleNeeded` at a safe point, holding no claim (the
    caller starts a fresh process, see recycle.py)."""
    population = StorePopulation(self.store, self.strategy,
                                 self.config.workers.gc_grace_s,
                                 heartbeat_s=self.config.workers.heartbeat_s)
    loop = SteadyState(
        self.config,
        space=spaces.make(self.config.search_space, self.config),
        population=population, trainer=self.trainer,
        recycler=Recycler(self.config.resources),
        root_key=jax.random.key(self.config.seed), name=self.name)
    log.info("worker %s started on %s", self.name, self.workdir)
    try:
      loop.drop_alive_without_checkpoint()
      trained = loop.run()
    finally:
      population.close()
      self.trainer.close()
    log.info("worker %s finished: %d individuals trained", self.name, trained)
    return trained
