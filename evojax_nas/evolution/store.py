"""The population store: many workers, one population, no lock server.

Real et al. (2017, 3.1) run hundreds of workers that never talk to each
other: they share a file system where each individual is a directory and
every state change is atomic, and a worker that loses a race gives up and
tries again. Here, under `<workdir>/population/`:

  <id>/                 reserved by renaming a private folder that holds
                        the claim to the id (fails if another worker took
                        it: try the next one)
  <id>/claim            who births and trains it: worker, host, pid; its
                        mtime is the heartbeat
  <id>/born.json        the birth record (genome, parent, mutation)
  <id>/trained.json     the training record (accuracies, FLOPs, seconds)
  <id>/killed.json      the death record (reason, by whom)
  <id>/abandoned        a reserved id given up (the budget was spent)
  experiment.json       the shared clock's origin (moved forward over
                        downtime by `resume_clock`)

Records are written to a private temporary file and then published with
`os.link` (birth: `os.replace`), atomic on POSIX file systems and NFS:
`link` fails if the target exists, so exactly one worker's kill or training
record wins and the loser learns it lost. A claim whose heartbeat is older
than the timeout, or whose process is gone (same host), is taken back with
an atomic rename; the individual is then trained again from its own key.
The directories outlive their checkpoints: the lineage stays complete.
"""

from __future__ import annotations

import dataclasses
import errno
import json
import os
import socket
import time
from pathlib import Path

from evojax_nas.evolution import events as event_format
from evojax_nas.evolution.individual import Individual

_EVENT_ORDER = {"started": 0, "born": 1, "trained": 2, "killed": 3}


@dataclasses.dataclass
class Record(Individual):
  """An individual as the store holds it (`born` None while its id is only
  reserved), with the state of its claim."""
  claim_age_s: float | None = None   # seconds since its last heartbeat
  claim: dict | None = None
  reserved_age_s: float = 0.0        # age of the directory
  abandoned: bool = False            # a reservation given up (over budget)

  @property
  def reserved(self) -> bool:
    """An id taken for a birth that has not happened (yet)."""
    return self.born is None and not self.abandoned


def _process_gone(claim: dict | None) -> bool:
  """Whether the claiming process is known dead (only decidable on its own
  host; pid reuse makes this conservative, never wrong the other way)."""
  if not claim or claim.get("host") != socket.gethostname():
    return False
  try:
    os.kill(int(claim["pid"]), 0)
  except ProcessLookupError:
    return True
  except (PermissionError, KeyError, ValueError, TypeError):
    return False
  return False


class PopulationStore:
  """The shared population directory, seen by one worker."""

  def __init__(self, root: str | Path, worker: str,
               claim_timeout_s: float = 300.0, read_only: bool = False):
    self.root = Path(root)
    self.worker = worker
    self.claim_timeout_s = claim_timeout_s
    self._final: dict[int, Record] = {}  # killed: never changes again
    self._published: dict[int, tuple[dict | None, dict | None]] = {}
    if not read_only:
      self.root.mkdir(parents=True, exist_ok=True)
      self.origin = self._origin()

  # --- files ----------------------------------------------------------------
  def _dir(self, ident: int) -> Path:
    return self.root / f"{ident:08d}"

  def _tmp(self, payload: dict) -> Path:
    tmp = self.root / f".tmp-{self.worker}-{os.getpid()}-{time.time_ns()}"
    with open(tmp, "w", encoding="utf-8") as f:
      json.dump(payload, f, sort_keys=True)
      f.flush()
      os.fsync(f.fileno())
    return tmp

  def _create(self, path: Path, payload: dict) -> bool:
    """Publishes `payload` at `path` unless it exists (then False)."""
    tmp = self._tmp(payload)
    try:
      os.link(tmp, path)
      return True
    except FileExistsError:
      return False
    finally:
      tmp.unlink()

  def _origin(self) -> float:
    path = self.root / "experiment.json"
    self._create(path, {"origin": time.time()})
    self._origin_mtime = path.stat().st_mtime_ns
    return float(json.loads(path.read_text())["origin"])

  def now(self) -> float:
    """Seconds on the shared clock: the time the experiment ran, summed
    over sessions (`resume_clock` skips the downtime between them)."""
    path = self.root / "experiment.json"
    if path.stat().st_mtime_ns != self._origin_mtime:  # moved by a restart
      self.origin = self._origin()
    return round(time.time() - self.origin, 3)

  def resume_clock(self, idle_s: float = 0.0) -> float:
    """At a restart: if no worker holds a live claim and the last record is
    older than `idle_s`, moves the origin forward so that the clock
    continues from the last record (the downtime does not count, as in
    the event log). Returns the seconds skipped."""
    recs = self.records()
    if any((r.pending or r.reserved) and not self.stale(r)
           for r in recs.values()):
      return 0.0  # a session is under way
    last = max((float(e["t"]) for r in recs.values()
                for e in (r.born, r.trained, r.killed) if e), default=None)
    skip = 0.0 if last is None else self.now() - last
    if skip <= idle_s:
      return 0.0
    path = self.root / "experiment.json"
    os.replace(self._tmp({"origin": self.origin + skip}), path)
    self.origin = self._origin()
    return skip

  @staticmethod
  def _read(path: Path) -> dict | None:
    try:
      return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
      return None

  # --- reading ----------------------------------------------------------------
  def records(self) -> dict[int, Record]:
    """Every individual, by id (directories named by an id only)."""
    out, now = {}, time.time()
    for entry in os.scandir(self.root):
      if not (entry.is_dir() and entry.name.isdigit()):
        continue
      ident = int(entry.name)
      if ident in self._final:
        out[ident] = self._final[ident]
        continue
      d = Path(entry.path)
      try:
        age = now - entry.stat().st_mtime
      except FileNotFoundError:
        continue
      # Published records never change: read each once.
      born, trained = self._published.get(ident, (None, None))
      born = born or self._read(d / "born.json")
      trained = trained or self._read(d / "trained.json")
      self._published[ident] = (born, trained)
      rec = Record(id=ident, born=born, trained=trained,
                   killed=self._read(d / "killed.json"), reserved_age_s=age,
                   abandoned=(d / "abandoned").exists())
      try:
        rec.claim_age_s = now - (d / "claim").stat().st_mtime
        rec.claim = self._read(d / "claim")
      except FileNotFoundError:
        pass
      if rec.killed is not None and rec.born is not None:
        self._final[ident] = rec
      out[ident] = rec
    return dict(sorted(out.items()))

  def events(self) -> list[dict]:
    """Every record as an event of the log format, in time order."""
    evs = [event_format.started(0.0, resumed=False, workers=True)]
    for rec in self.records().values():
      evs += [e for e in (rec.born, rec.trained, rec.killed) if e is not None]
    return sorted(evs, key=lambda e: (float(e.get("t", 0.0)),
                                      _EVENT_ORDER.get(e["event"], 9),
                                      e.get("id", -1)))

  def stale(self, rec: Record) -> bool:
    """A pending individual (or a reservation not yet born) whose worker is
    gone or silent too long."""
    if not (rec.pending or rec.reserved):
      return False
    if rec.claim_age_s is None:  # claim being taken back right now, or lost
      return rec.reserved_age_s > self.claim_timeout_s
    return (rec.claim_age_s > self.claim_timeout_s
            or _process_gone(rec.claim))

  # --- state changes ------------------------------------------------------------
  def _claim_payload(self) -> dict:
    return {"worker": self.worker, "host": socket.gethostname(),
            "pid": os.getpid()}

  def reserve(self, start: int = 0) -> int:
    """A fresh id >= `start`, reserved with its claim in one step: a folder
    holding the claim is renamed to the id (atomic; refused where the id
    exists), so a worker killed while reserving leaves no claimless id
    for the others to wait `claim_timeout_s` on."""
    existing = [int(p.name) for p in os.scandir(self.root)
                if p.name.isdigit()]
    ident = max(existing + [start - 1]) + 1
    folder = self.root / f".tmp-{self.worker}-{os.getpid()}-{time.time_ns()}.d"
    folder.mkdir()
    os.replace(self._tmp(self._claim_payload()), folder / "claim")
    while True:
      try:
        os.rename(folder, self._dir(ident))
        return ident
      except OSError as err:
        if err.errno not in (errno.EEXIST, errno.ENOTEMPTY):
          raise
        ident += 1

  def abandon(self, ident: int) -> None:
    """Gives a reserved id up (over budget): it stays an empty directory."""
    self._create(self._dir(ident) / "abandoned", {"worker": self.worker})

  def birth(self, ident: int, born: dict) -> None:
    """Publishes the birth of `ident` (reserved, so claimed, by us)."""
    os.replace(self._tmp(born), self._dir(ident) / "born.json")

  def kill(self, ident: int, killed: dict) -> bool:
    """Kills `ident`; False if another worker killed it first."""
    return self._create(self._dir(ident) / "killed.json", killed)

  def finish(self, ident: int, trained: dict) -> bool:
    """Publishes the training record; False if another worker (one that
    took the claim back) published first: this result is then dropped."""
    ok = self._create(self._dir(ident) / "trained.json", trained)
    if ok:
      try:
        (self._dir(ident) / "claim").unlink()
      except FileNotFoundError:
        pass
    return ok

  def take_back(self, seen: Record) -> bool:
    """Takes over the stale claim of `seen` (as read by `records`): the
    claim file is grabbed with an atomic rename, then given back unless it
    is the stale one we saw, so of several workers at most one wins."""
    d = self._dir(seen.id)
    grabbed = d / f"claim.taken-{self.worker}-{time.time_ns()}"
    try:
      os.rename(d / "claim", grabbed)
    except FileNotFoundError:
      if seen.claim is not None or (d / "trained.json").exists():
        return False  # another worker is taking it over right now
      return self._create(d / "claim", self._claim_payload())
    taken = self._read(grabbed)
    age = time.time() - grabbed.stat().st_mtime  # rename keeps the mtime
    if taken != seen.claim or not (age > self.claim_timeout_s
                                   or _process_gone(taken)):
      try:  # a live claim: put it back
        os.link(grabbed, d / "claim")
      except FileExistsError:
        pass
      grabbed.unlink()
      return False
    return self._create(d / "claim", self._claim_payload())

  def heartbeat(self, ident: int) -> None:
    try:
      os.utime(self._dir(ident) / "claim")
    except FileNotFoundError:
      pass


def read_events(root: str | Path) -> list[dict]:
  """The store's records as time-ordered events, without writing."""
  return PopulationStore(root, "reader", read_only=True).events()

