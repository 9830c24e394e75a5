"""A run's start and finish, one for every way a run goes: the in-process
loop (runner.Experiment is a Run), the workers' launcher (launch.py) and
fault injection (faults.py). A sweep's experiments are in-process runs in
child processes (`evojax_nas resume`, sweep.run_point).

Start, `Run(config, workdir, role)`: the config validated, the folder made
(never in a sweep's) and locked for this process before anything is written
(ownership.py; a second start is refused, naming the holder). The rest of
the start runs in `with run.starting():`, which lets the lock go again if
it fails, and records the experiment (`record`): config.json and, once the
data has loaded, data.json, written only after both agree with what the
folder holds, so a refused or failed first start leaves the folder free for
the corrected command.

Finish, `run.finish(...)`: results.json and model/ (results.py) from the
replayed history, then the `finished` event. Leaving `with run:` (or
`run.release()`) lets the lock go; a recycle keeps it for the fresh
process (recycle.py).
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Callable, Iterator

import ml_collections

from evojax_nas import config as config_lib
from evojax_nas.evolution import events
from evojax_nas.runs import data_record
from evojax_nas.runs import ownership
from evojax_nas.runs import results as results_lib
from evojax_nas.runs.recorded_config import check_same_experiment
from evojax_nas.workdir import CONFIG, refuse_sweep


class Run:
  """One run's folder, held by this process from its start (here) to its
  finish."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path,
               role: str):
    self.config = config_lib.validate(config)
    self.workdir = Path(workdir).absolute()
    refuse_sweep(self.workdir)
    self.workdir.mkdir(parents=True, exist_ok=True)
    # Before anything is written: a second start on this workdir is refused.
    ownership.acquire(self.workdir, role)

  def __enter__(self) -> "Run":
    return self

  def __exit__(self, *exc):
    self.release()

  @contextlib.contextmanager
  def starting(self) -> Iterator["Run"]:
    """The rest of the start: where it fails, the lock is let go."""
    try:
      yield self
    except BaseException:
      self.release()
      raise

  def record(self, dataset=None, write: bool = True) -> None:
    """Checks config.json, and data.json for a loaded `dataset`, against
    what the folder recorded (ConfigError, DataError), then (`write`)
    records what it lacks: a start refused on either writes neither."""
    same = self.config.data.same_as_recorded
    for record in (False, True) if write else (False,):
      check_same_experiment(self.config, self.workdir / CONFIG, record=record)
      if dataset is not None:
        data_record.check(self.workdir, dataset, same, record=record)

  def finish(self, history, trainer, *, now: Callable[[], float],
             note: Callable[[dict], object]) -> dict:
    """results.json and model/ from the replayed `history` with a
    `trainer` that predicts, at experiment time `now()`; then the
    `finished` event (`note`, at `now()` again). Returns the results."""
    summary = results_lib.finalize(self.config, self.workdir, history,
                                   trainer=trainer, wall_time_s=now())
    note(events.finished(now()))
    return summary

  def release(self) -> None:
    """Lets this process's hold on the folder's lock go."""
    ownership.release(self.workdir)
