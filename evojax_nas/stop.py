"""A stop request (Ctrl-C, SIGTERM) that is never lost.

The commands' signal handler records the request here and raises
KeyboardInterrupt where the main thread is. Python drops that exception
where it lands in a garbage-collection callback or `__del__`, and so may
native code that calls back into Python and clears errors (seen: a SIGTERM
passed on to a running experiment, which then trained its last ten
individuals and finished). The loops therefore also raise a recorded
request at their safe point, before each individual. No imports: every
layer may ask.
"""

from __future__ import annotations

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
