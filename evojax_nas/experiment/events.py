"""The append-only event log, `<workdir>/events.jsonl`: the run's history.

One JSON object per line. Lines that belong to one decision (a kill and a
birth) are written with a single `write` on an O_APPEND descriptor and
fsync'ed, so a crash leaves either all of them or, at worst, a torn last line,
which `EventLog` drops when it opens the file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path


class EventLogError(ValueError):
  """The event log is not valid JSON lines."""


class EventLog:

  def __init__(self, path: str | Path):
    self.path = Path(path)
    self._repair_torn_tail()

  def _repair_torn_tail(self):
    if not self.path.exists():
      return
    data = self.path.read_bytes()
    if data and not data.endswith(b"\n"):
      keep = data.rfind(b"\n") + 1
      with open(self.path, "r+b") as f:
        f.truncate(keep)
        f.flush()
        os.fsync(f.fileno())

  def read(self) -> list[dict]:
    if not self.path.exists():
      return []
    events = []
    with open(self.path, encoding="utf-8") as f:
      for n, line in enumerate(f, 1):
        if not line.strip():
          continue
        try:
          events.append(json.loads(line))
        except json.JSONDecodeError as err:
          raise EventLogError(
              f"{self.path}:{n} is not valid JSON ({err.msg}); restore that "
              f"line, or `evojax_nas repair --workdir {self.path.parent}` "
              "keeps the lines before it and sets the rest aside") from None
    return events

  def append(self, *events: dict) -> None:
    payload = "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)
    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
      os.write(fd, payload.encode("utf-8"))
      os.fsync(fd)
    finally:
      os.close(fd)
