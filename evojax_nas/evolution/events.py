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
from typing import Callable

from evojax_nas.errors import GenomeError

# --- the records, one constructor each (the log's format is here) ----------


def born(ident: int, *, t: float, genome, parent, mutation: str,
         **extra) -> dict:
  """A birth: the genome (its JSON and signature), parent and mutations."""
  return {"event": "born", "id": ident, "t": t, "parent": parent,
          "mutation": mutation, "genome": genome.to_json(),
          "signature": genome.signature_hash(), **extra}


def killed(ident: int, *, t: float, reason: str, by=None) -> dict:
  """A death: why (the strategy, "generation", "population_reset") and by
  whose birth (or generation)."""
  return {"event": "killed", "id": ident, "t": t, "reason": reason, "by": by}


def trained(ident: int, *, genome, r, t: float, wall_s: float,
            cache_stats: dict) -> dict:
  """A trained individual from the trainer's result `r` (`failed`: why
  its training failed, only where it did)."""
  failed = {"failed": r.failed} if getattr(r, "failed", None) else {}
  return {**failed, "event": "trained", "id": ident, "t": t,
          "val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy,
          "train_loss": r.train_loss, "train_accuracy": r.train_accuracy,
          "steps": r.steps, "flops": r.flops, "inherited": list(r.inherited),
          "partial": list(r.partial), "fresh": list(r.fresh),
          "blended": list(r.blended), "costs": dict(r.costs),
          "seconds": r.seconds,
          "wall_s": round(wall_s, 3), "signature": genome.signature_hash(),
          "compile_cache": cache_stats}


def generation(gen: int, *, t: float, ids: list[int], fitness: dict,
               stats: dict) -> dict:
  """The end of a generation (the genetic algorithm): members, fitness."""
  return {"event": "generation", "generation": gen, "t": t, "ids": ids,
          "fitness": fitness, "stats": stats}


def population_reset(at: int, t: float) -> dict:
  return {"event": "population_reset", "at": at, "t": t}


def started(t: float, **fields) -> dict:
  """A process began (or resumed) the run: `resumed`, `slots`, devices."""
  return {"event": "started", "t": t, **fields}


def finished(t: float) -> dict:
  return {"event": "finished", "t": t}


def recycled(t: float, reason: str, **fields) -> dict:
  """A process handed the run to a fresh one (replay ignores it)."""
  return {"event": "recycled", "t": t, "reason": reason, **fields}


class EventLogError(ValueError):
  """The event log is not valid JSON lines."""


def raw_lines(path: str | Path) -> list[bytes]:
  """The log's lines as bytes, newlines kept: damage of any kind (bytes
  that are not UTF-8 text) is found line by line, never a crash."""
  return Path(path).read_bytes().splitlines(keepends=True)


def parse(line: bytes) -> dict:
  """One event; ValueError saying what is wrong with the line."""
  try:
    event = json.loads(line.decode("utf-8"))
  except UnicodeDecodeError as err:
    raise ValueError(f"not UTF-8 text (a damaged byte at column "
                     f"{err.start + 1})") from None
  except json.JSONDecodeError as err:
    raise ValueError(f"not valid JSON ({err.msg})") from None
  if not isinstance(event, dict):
    raise ValueError("not a JSON object")
  return event


def lines(events: list[dict]) -> str:
  """Events as the log's lines (one JSON object each, keys sorted)."""
  return "".join(json.dumps(e, sort_keys=True) + "\n" for e in events)


def repair_hint(path) -> str:
  return (f"`evojax_nas repair --workdir {Path(path).parent}` keeps the "
          "lines before it and sets the rest aside")


# What a fold of the log raises at an event that does not fit the events
# before it (an unknown individual, a missing field, a bad genome...).
FOLD_ERRORS = (GenomeError, KeyError, TypeError, ValueError, AttributeError)


def explain(e: dict, err: Exception) -> str:
  """What is wrong with event `e`, which a fold refused with `err`."""
  if isinstance(err, GenomeError):
    return f"genome of individual {e.get('id')}: {err}"
  if isinstance(err, KeyError):
    return (f"{e.get('event')} event names an unknown individual or lacks "
            f"field {err}")
  return str(err)


def first_damage(path: str | Path,
                 apply: Callable[[dict], None]) -> tuple[int, str] | None:
  """(line number, what is wrong) of the first line of the log at `path`
  that is not a JSON object (or not text) or that `apply` refuses (a fold
  of the events: the replay through the strategy, or the report's check of
  the individuals' lives); None for a sound log."""
  for n, line in enumerate(raw_lines(path), 1):
    if not line.strip():
      continue
    if not line.endswith(b"\n"):
      return n, "a torn last line"
    try:
      e = parse(line)
    except ValueError as err:
      return n, str(err)
    try:
      apply(e)
    except FOLD_ERRORS as err:
      return n, explain(e, err)
  return None


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
    for n, line in enumerate(raw_lines(self.path), 1):
      if not line.strip():
        continue
      try:
        events.append(parse(line))
      except ValueError as err:
        raise EventLogError(f"{self.path}:{n}: {err}; restore that line, "
                            f"or {repair_hint(self.path)}") from None
    return events

  def append(self, *events: dict) -> None:
    payload = lines(list(events))
    fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
      os.write(fd, payload.encode("utf-8"))
      os.fsync(fd)
    finally:
      os.close(fd)


TIME_PARTS = ("compile", "restore", "train", "eval", "save")


def time_split(trained: list[dict], wall_s: float) -> dict:
  """Where an experiment's time went, from its `trained` events: seconds
  spent compiling (by every slot, overlapping training where slots run
  side by side), restoring parents, training, validating and saving, summed
  over individuals; the device's idle time (wall minus training and
  validation: compilation on the critical path, host work); each as a share
  of the wall time."""
  spent = {k: round(sum(float(e.get("seconds", {}).get(k, 0.0))
                        for e in trained), 3) for k in TIME_PARTS}
  idle = max(0.0, wall_s - spent["train"] - spent["eval"])
  out = {f"{k}_s": v for k, v in spent.items()}
  out.update(wall_s=round(wall_s, 3), device_idle_s=round(idle, 3))
  out["shares"] = {k: round(v / wall_s, 4) if wall_s > 0 else 0.0
                   for k, v in {**spent, "device_idle": idle}.items()}
  return out
