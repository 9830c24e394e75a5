"""A stop request (Ctrl-C, SIGTERM): how this process handles it, in one
place, and never loses it.

`handled()` (what every command runs in): a Ctrl-C or SIGTERM is recorded
here (`request`) and raised as KeyboardInterrupt where the main thread is.
Python drops that exception where it lands in a garbage-collection callback
or `__del__` (then the signal is sent again a moment later), and so may
native code that calls back into Python and clears errors (seen: a SIGTERM
passed on to a running experiment, which then trained its last ten
individuals and finished). The loops therefore also raise a recorded
request at their safe point, before each individual.

`deferred()` (what a process with children runs them in,
runs/processes.py): a Ctrl-C or SIGTERM raises nothing at once; the block
passes it on to the children, waits for them, then raises it
(`interrupt`). `follow_parent` makes a child stop when the process that
started it dies. It imports nothing of evojax_nas: every layer may ask.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
import threading
from typing import Iterator

_requested: str | None = None
STOPS = (signal.SIGINT, signal.SIGTERM)


def request(how: str) -> None:
  """Records a stop: "Ctrl-C" or "SIGTERM"."""
  global _requested
  _requested = how


def clear() -> None:
  global _requested
  _requested = None


def interrupt(how: str) -> KeyboardInterrupt:
  """The exception of a stop; its message names a SIGTERM."""
  return KeyboardInterrupt("SIGTERM" if how == "SIGTERM" else "")


def raise_if_requested() -> None:
  """Raises the recorded stop, if there is one (at a loop's safe point)."""
  if _requested is not None:
    raise interrupt(_requested)


def how_of(signum: int) -> str:
  """"SIGTERM" or "Ctrl-C" (SIGINT): the stop a signal asks for."""
  return "SIGTERM" if signum == signal.SIGTERM else "Ctrl-C"


def signal_of(how: str) -> signal.Signals:
  """The signal that asks for the stop `how` (passed on to a child)."""
  return signal.SIGTERM if how == "SIGTERM" else signal.SIGINT


def handle(signum, frame):
  """Ctrl-C and SIGTERM in a command: recorded (so that a loop raises it
  again if this exception gets lost), then raised here."""
  del frame
  request(how_of(signum))
  raise interrupt(how_of(signum))


def _stop_again(previous):
  """An unraisable-exception hook: a Ctrl-C or SIGTERM whose
  KeyboardInterrupt landed in a garbage-collection callback or a `__del__`
  is swallowed by Python ("Exception ignored in ...": seen with XLA's gc
  callback, and the run then went on to its end); the signal is sent again
  a moment later, from a thread (sent from the hook, it would land in the
  hook and be swallowed too), so that it lands elsewhere. Everything else
  goes to `previous`."""

  def hook(unraisable):
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
      signum = (signal.SIGTERM if str(unraisable.exc_value) == "SIGTERM"
                else signal.SIGINT)
      again = threading.Timer(0.05, os.kill, (os.getpid(), signum))
      again.daemon = True
      again.start()
      return
    previous(unraisable)
  return hook


@contextlib.contextmanager
def handled() -> Iterator[None]:
  """Within the block (a command), Ctrl-C and SIGTERM stop the process the
  same way (`handle`): an ignored SIGINT stays ignored, and a stop Python
  swallowed is sent again. Outside the main thread, nothing changes."""
  unraisable = sys.unraisablehook
  clear()
  main = threading.current_thread() is threading.main_thread()
  if main:
    signal.signal(signal.SIGTERM, handle)  # stop as Ctrl-C does
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
      signal.signal(signal.SIGINT, handle)  # (an ignored SIGINT stays so)
    sys.unraisablehook = _stop_again(unraisable)
  try:
    if main:
      follow_parent()
    yield
  finally:
    sys.unraisablehook = unraisable
    clear()
    if signal.getsignal(signal.SIGINT) is handle:
      signal.signal(signal.SIGINT, signal.default_int_handler)


@contextlib.contextmanager
def deferred() -> Iterator[list[str]]:
  """Within the block, a Ctrl-C or SIGTERM raises nothing: its stop
  ("Ctrl-C", "SIGTERM") is appended to the list yielded, for the block to
  act on where it can (pass it on to its children, wait for them, raise
  `interrupt`); the handlers there were are back afterwards. Python runs
  handlers in the main thread only: elsewhere the list stays empty."""
  stops: list[str] = []
  if threading.current_thread() is not threading.main_thread():
    yield stops
    return
  previous = {s: signal.signal(s, lambda signum, _: stops.append(
      how_of(signum))) for s in STOPS}
  try:
    yield stops
  finally:
    for s, handler in previous.items():
      signal.signal(s, signal.SIG_DFL if handler is None else handler)


@contextlib.contextmanager
def held() -> Iterator[None]:
  """Ctrl-C and SIGTERM wait until the block is done, then arrive as sent
  (to the handlers there were): for the few renames that replace a set of
  files together (files.replace_together)."""
  try:
    with deferred() as stops:
      yield
  finally:
    for how in stops:  # (an error in the block: still sent)
      os.kill(os.getpid(), signal_of(how))


# Set by a parent that watches this process (runs/processes.py): its pid.
WATCHED_BY = "EVOJAX_NAS_WATCHED_BY"


def watched_by(pid: int) -> dict[str, str]:
  """The environment of a child that must not outlive process `pid`."""
  return {WATCHED_BY: str(pid)}


def follow_parent() -> None:
  """In a child started with `watched_by(parent)`, once at its start
  (`handled`): on Linux the kernel sends it SIGTERM when the parent dies,
  even by SIGKILL (it then stops as after Ctrl-C, keeping what it
  finished), so a killed driver leaves no orphan running on its folder.
  Set here, not in a `preexec_fn` (unsafe to run between fork and exec in
  a process with threads, as JAX's). The variable is removed, so that
  processes this one starts do not inherit it."""
  parent = os.environ.pop(WATCHED_BY, None)
  if parent is None or not sys.platform.startswith("linux"):
    return
  pr_set_pdeathsig = 1
  ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig,
                                          int(signal.SIGTERM))
  if os.getppid() != int(parent):  # it died before the line above
    request("SIGTERM")  # raised at the loops' safe points, and sent again
    again = threading.Timer(0.05, os.kill, (os.getpid(), signal.SIGTERM))
    again.daemon = True  # from a thread: it lands in the command's body
    again.start()
