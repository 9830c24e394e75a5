"""A stop request (Ctrl-C, SIGTERM) that is never lost.

The commands' signal handler records the request here and raises
KeyboardInterrupt where the main thread is. Python drops that exception
where it lands in a garbage-collection callback or `__del__`, and so may
native code that calls back into Python and clears errors (seen: a SIGTERM
passed on to a running experiment, which then trained its last ten
individuals and finished). The loops therefore also raise a recorded
request at their safe point, before each individual. It imports nothing
of evojax_nas: every layer may ask. `with_parent` makes a child process
stop when the process that started it dies.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from typing import Callable

_requested: str | None = None


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


def with_parent() -> Callable[[], None] | None:
  """A `preexec_fn` for a child process that must not outlive this one: on
  Linux the kernel sends it SIGTERM when this process dies, even by
  SIGKILL (it then stops as after Ctrl-C, keeping what it finished), so a
  killed driver leaves no orphan running on its folder. None elsewhere."""
  if not sys.platform.startswith("linux"):
    return None
  parent = os.getpid()
  prctl = ctypes.CDLL(None, use_errno=True).prctl
  pr_set_pdeathsig = 1

  def preexec():
    prctl(pr_set_pdeathsig, int(signal.SIGTERM))
    if os.getppid() != parent:  # the parent died before the line above
      os.kill(os.getpid(), signal.SIGTERM)
  return preexec
