"""Recycling a long run's process before it runs out of memory mappings or
memory.

XLA:CPU keeps every compiled program's kernels in memory mappings of their
own (compile/memory.py); the compiled-network cache is bounded by them, and
this is the safety net for whatever else grows over thousands of
architectures: a loop checks `Recycler.due()` at a safe point (an
individual's result is in the log or the store, nothing of its own is in
training) and raises `RecycleNeeded` (evolution/loop.py: the loop knows
only the `Recycler` handed to it, never this module); a fresh process then
resumes from the log. A birth is a pure function of the seed and the log, so the
run's choices do not change, and nothing is lost or trained twice.

How the fresh process starts depends on who runs the loop:
  * a command (`python -m evojax_nas.main ...`, `evojax_nas worker ...`)
    re-executes itself (`reexec`): same PID, same arguments;
  * a Python caller (`evojax_nas.run` in a notebook or a test)
    continues in a child process, `evojax_nas resume` (`continue_in_child`),
    whose output it relays and to which it passes a Ctrl-C or SIGTERM
    (processes.py), and gets results.json back as usual;
  * a Ray worker task returns, and the driver starts a fresh task.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path

from evojax_nas import files
from evojax_nas.compile import memory
from evojax_nas.evolution import events
from evojax_nas.runs import ownership, processes
from evojax_nas.workdir import RECYCLE_CONFIG, read_results

log = logging.getLogger("evojax_nas")


class Recycler:
  """Decides when a loop recycles its process: past a threshold, and only
  once this process has trained at least one individual (so a fresh process
  always makes progress, however low the thresholds)."""

  def __init__(self, resources):
    self.watch = memory.Watch.from_fractions(
        resources.recycle_map_fraction, resources.recycle_memory_fraction)
    self.trained = 0

  def count(self):
    self.trained += 1

  def due(self) -> str | None:
    """The reason to recycle now, or None."""
    return self.watch.over() if self.trained else None

  def event(self, reason: str, t: float) -> dict:
    """The `recycled` log record (replay ignores it)."""
    return events.recycled(t, reason, pid=os.getpid(),
                           trained_in_process=self.trained,
                           **self.watch.sample())


def reexec(argv: list[str]):
  """Replaces this process by a fresh run of `evojax_nas.main argv`."""
  log.warning("recycling this process (pid %d): starting afresh to resume "
              "from the log", os.getpid())
  for stream in (sys.stdout, sys.stderr):
    stream.flush()
  _, env = ownership.hand_over()  # the workdir's lock stays with us
  os.environ.update(env)
  os.execv(sys.executable, processes.command(*argv))


def continue_in_child(config_flat: dict, workdir: str | Path) -> dict:
  """Runs the rest of the experiment in a child process (`evojax_nas
  resume`), relaying its output; returns its results.json."""
  workdir = Path(workdir)
  path = files.write_atomic(workdir / RECYCLE_CONFIG,
                           json.dumps(config_flat, indent=1, sort_keys=True))
  log.warning("recycling: the run continues in a fresh process")
  with processes.watching() as child:
    child.add("resume", processes.start(
        ["resume", "--workdir", str(workdir), "--config_json", str(path)],
        hand_over=True))  # the child holds the workdir's lock
    code = child.wait()
  if code != 0:
    raise RuntimeError(f"the recycled run stopped with exit status {code}; "
                       f"run again on {workdir} to resume it")
  return read_results(workdir)
