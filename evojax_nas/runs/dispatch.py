"""`run(config, workdir)`: where an experiment runs, and where it goes on.

In this process (the loop of runner.py) or, with `num_workers > 0`, in
asynchronous worker processes (launch.py); and, when the in-process loop
recycles its process near its memory limits (recycle.py), in a fresh one.
Kept apart from both so that the loop, the launcher and the workers never
import each other in a circle.
"""

from __future__ import annotations

from pathlib import Path

import ml_collections

from evojax_nas import config as config_lib
from evojax_nas.runs import ownership
from evojax_nas.runs.launch import run_workers
from evojax_nas.evolution.loop import RecycleNeeded
from evojax_nas.runs.recycle import continue_in_child
from evojax_nas.runs.runner import Experiment
from evojax_nas.train.trainer import merge_host, split_host


def run(config: ml_collections.ConfigDict, workdir: str | Path,
        recycle=None) -> dict:
  """Runs (or resumes) the experiment; returns what `results.json` holds.
  With `num_workers > 0`, asynchronous worker processes do the work.

  With `final.fraction`, that share of the budget then retrains the best
  (retrain.py). Where the process nears its memory-mapping or memory limits it recycles:
  `recycle(config, workdir)` continues the run in a fresh process and
  returns its results; by default a child process (`evojax_nas resume`),
  the command line re-executes itself instead."""
  config = config_lib.validate(config)
  split = split_host(config)  # before JAX starts: the slots' lanes
  results = _search(config, workdir, recycle)
  if config.final.fraction:
    if split and split > 1 and not config.cpu_devices:
      merge_host()  # auto: one program at a time gets every core
    # pylint: disable-next=g-import-not-at-top
    from evojax_nas.runs.final import final
    results = final(config, workdir, results)
  return results


def _search(config, workdir, recycle) -> dict:
  if config.num_workers > 0:
    return run_workers(config, workdir)
  try:
    return Experiment(config, workdir).run()
  except RecycleNeeded:
    pass  # the Experiment is closed and gone: its memory can be freed
  try:
    if recycle is None:
      return continue_in_child(config_lib.flatten(config), workdir)
    return recycle(config, workdir)
  finally:
    ownership.release(workdir)
