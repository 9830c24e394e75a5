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


TIME_PARTS = ("compile", "restore", "train", "wait", "eval", "save")


def event_slots(trained: list[dict]) -> int:
  """The slots that `trained` events name (one process's; at least 1)."""
  return len({e.get("slot", 0) for e in trained}) or 1


def time_split(trained: list[dict], wall_s: float, slots: int = 0,
               process_cpu_s: float | None = None) -> dict:
  """Where an experiment's time went, from its `trained` events: the
  seconds its slots spent on each individual's parts, summed (compile:
  waiting for its programs, the critical path; restore: its start weights;
  train; wait: for its device; eval; save), and the rest of the slots' time
  (`idle`: births, host bookkeeping), each as a share of the slots' time,
  `slots` (default: `event_slots`) times `wall_s`, so the shares add up to
  1 however many slots train side by side. `process_cpu_s` (the process's
  CPU time, all its threads) is kept where given."""
  spent = {k: round(sum(float(e.get("seconds", {}).get(k, 0.0))
                        for e in trained), 3) for k in TIME_PARTS}
  slots = slots or event_slots(trained)
  slot_s = slots * wall_s
  out = {f"{k}_s": v for k, v in spent.items()}
  out.update(wall_s=round(wall_s, 3), slots=slots,
             idle_s=round(max(0.0, slot_s - sum(spent.values())), 3))
  out["shares"] = {k: round(out[f"{k}_s"] / slot_s, 4) if slot_s > 0
                   else 0.0 for k in (*TIME_PARTS, "idle")}
  if process_cpu_s is not None:
    out["process_cpu_s"] = round(process_cpu_s, 3)
  return out
