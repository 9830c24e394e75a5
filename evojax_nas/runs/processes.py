"""The processes a run starts besides its own: child processes `python -m
evojax_nas.main ...` and Ray tasks, each kind started, watched and stopped
one way everywhere.

Children: the workers of a local launch (launch.py) and of fault
injection (faults.py), a sweep's experiments (sweep.run_point), a recycled
run that a Python caller continues (recycle.continue_in_child). `start`
starts one, its output appended to a log file or relayed to this process's
stderr; `watching()` watches them: while it runs, a Ctrl-C or SIGTERM to
this process raises nothing at once (stop.deferred) but goes on to every
child as the same signal; each child then has `grace_s` to stop (keeping
what it finished) before SIGKILL, and the stop is raised here
(KeyboardInterrupt, stop.interrupt). Leaving the block any other way (an
error) kills the children still running: nothing of theirs is left behind.

Ray: `ray_started` starts Ray here or joins `workers.ray_address` (once per
process), `ray_task` makes a task with the workers' resources and retries,
`ray_results` hands back each task's result as it finishes.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Iterator

from evojax_nas import stop
from evojax_nas.config import ConfigError
from evojax_nas.runs import ownership

log = logging.getLogger("evojax_nas")


def command(*args: str) -> list[str]:
  """`python -m evojax_nas.main ARGS` with this interpreter."""
  return [sys.executable, "-m", "evojax_nas.main", *args]


def start(args: list[str], *, log_to: Path | None = None,
          hand_over: bool = False) -> subprocess.Popen:
  """`command(*args)` as a child process, with this process's environment
  (and devices). Its output (stdout and stderr) is appended to `log_to`, or
  piped for `Children.add` to relay to this process's stderr. `hand_over`:
  it takes over this process's workdir locks (ownership.hand_over).

  The child runs in a session of its own, so a Ctrl-C at the terminal
  reaches this process only and the child gets the stop once, passed on
  (`Children.stop`), never a second time in the middle of stopping; and it
  gets SIGTERM when this process dies, even by SIGKILL (stop.watched_by,
  followed where the child's command starts): no child outlives the
  process that watches it. Start children from the main thread (the
  kernel's signal follows the thread that started it)."""
  fds, env = ownership.hand_over() if hand_over else ([], {})
  piped = {"text": True, "bufsize": 1} if log_to is None else {}
  with contextlib.ExitStack() as files:
    out = (subprocess.PIPE if log_to is None else
           files.enter_context(open(log_to, "ab")))
    return subprocess.Popen(
        command(*args), stdin=subprocess.DEVNULL, stdout=out,
        stderr=subprocess.STDOUT,
        env=dict(os.environ, **env, **stop.watched_by(os.getpid())),
        pass_fds=fds, start_new_session=True, **piped)


def _relay(stream) -> None:
  with stream:
    for line in stream:
      sys.stderr.write(line)


class Children:
  """Child processes by name, watched until each has ended (see the
  module); make it with `watching()`."""

  def __init__(self, stops: list[str], grace_s: float, poll_s: float):
    self.procs: dict[str, subprocess.Popen] = {}
    self._stops, self._grace_s, self._poll_s = stops, grace_s, poll_s
    self._relays: dict[str, threading.Thread] = {}

  def add(self, name: str, proc: subprocess.Popen) -> subprocess.Popen:
    """Watches `proc` as `name` (a name that ended may start again);
    relays its output if it is piped."""
    self.procs[name] = proc
    if proc.stdout is not None:
      self._relays[name] = threading.Thread(
          target=_relay, args=(proc.stdout,), daemon=True,
          name=f"evojax_nas-relay-{name}")
      self._relays[name].start()
    return proc

  def check_stop(self):
    """A stop of this process, if one came: passed on, waited for, raised."""
    if self._stops:
      self.stop(self._stops[0])

  def ended(self) -> list[tuple[str, int]]:
    """(name, exit status) of each child that ended since the last call;
    first, a stop of this process is passed on and raised."""
    self.check_stop()
    out = []
    for name, proc in sorted(self.procs.items()):
      code = proc.poll()
      if code is not None:
        del self.procs[name]
        if name in self._relays:
          self._relays.pop(name).join()
        out.append((name, code))
    return out

  def watch(self) -> Iterator[tuple[str, int]]:
    """`ended()` until no child is left (the caller may add more)."""
    while self.procs:
      try:
        next(iter(self.procs.values())).wait(timeout=self._poll_s)
      except subprocess.TimeoutExpired:
        pass
      yield from self.ended()

  def wait(self) -> int:
    """The exit status of the one child."""
    for _, code in self.watch():
      return code
    raise ValueError("no child to wait for")

  def stop(self, how: str):
    """Passes the stop `how` on to the children, waits for them, raises
    it."""
    log.warning("stopping: passing %s on to %s and waiting for them",
                stop.signal_of(how).name, ", ".join(sorted(self.procs)))
    for proc in self.procs.values():
      if proc.poll() is None:
        proc.send_signal(stop.signal_of(how))
    self.kill(after_s=self._grace_s)
    raise stop.interrupt(how)

  def kill(self, after_s: float = 0.0):
    """SIGKILL to the children still running after `after_s` seconds."""
    deadline = time.monotonic() + after_s
    for proc in self.procs.values():
      try:
        proc.wait(timeout=max(0.0, deadline - time.monotonic()))
      except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@contextlib.contextmanager
def watching(grace_s: float = 120.0, poll_s: float = 0.5
             ) -> Iterator[Children]:
  """Children watched in the block, stopped with this process (see the
  module); a stop that arrives as the last child ends is raised too."""
  with stop.deferred() as stops:
    children = Children(stops, grace_s, poll_s)
    try:
      yield children
    finally:
      children.kill()
    if stops:
      raise stop.interrupt(stops[0])


def ray_started(workers, needed_by: str):
  """The `ray` module, Ray started here or joined at
  `workers.ray_address` (once per process); ConfigError naming the extra
  to install if it is missing."""
  try:
    import ray  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise ConfigError(f"{needed_by} needs Ray: pip install "
                      "'evojax-nas[ray]'") from None
  if not ray.is_initialized():
    ray.init(address=workers.ray_address or None, include_dashboard=False,
             log_to_driver=True)
  return ray


def ray_task(ray, workers, fn, **options):
  """`fn` as a Ray task with the workers' resources and retries."""
  return ray.remote(num_cpus=workers.ray_num_cpus,
                    num_gpus=workers.ray_num_gpus,
                    max_retries=workers.ray_max_retries, **options)(fn)


def ray_results(ray, running: dict, grace_s: float = 120.0
                ) -> Iterator[tuple[Any, Any]]:
  """(what `running` maps a task to, its result) for each task as it
  finishes; tasks added to `running` meanwhile are waited for too. Left
  early (a Ctrl-C, an error), the tasks still running are stopped as
  children are: a KeyboardInterrupt in each (`ray.cancel`), `grace_s` to
  end, then their workers killed; nothing keeps writing to a folder whose
  lock the caller is about to let go."""
  finished = False
  try:
    while running:
      ready, _ = ray.wait(list(running), num_returns=1)
      yield running.pop(ready[0]), ray.get(ready[0])
    finished = True
  finally:
    if not finished and running:
      try:
        _cancel(ray, list(running), grace_s)
      except Exception:  # pylint: disable=broad-except
        log.exception("could not stop the Ray tasks (the stop goes on)")


def _cancel(ray, refs: list, grace_s: float):
  log.warning("stopping %d Ray task(s) and waiting for them", len(refs))
  for ref in refs:
    ray.cancel(ref)
  _, still = ray.wait(refs, num_returns=len(refs), timeout=grace_s)
  for ref in still:
    ray.cancel(ref, force=True)
