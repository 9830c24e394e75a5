"""The population the reproduction loop works on, behind one small interface
with two backends (Real et al. 2017, 3.1: many workers, one population; a
single worker is the smallest case):

  * `LogPopulation`: the append-only event log `WORKDIR/events.jsonl` of one
    process. Deterministic: it replays to the same strategy state, so a
    resumed run makes the same choices (the in-process run).
  * `StorePopulation`: the file-system store `WORKDIR/population/` shared by
    any number of worker processes on any machines (store.py), with claims
    that a heartbeat keeps alive and that other workers take back when
    their trainer dies.

What the loop (loop.py) asks of either:
  individuals()          every born individual, by id (a fresh view)
  selection_state(alive) the strategy state to `ask` for parent and victim
  counted_before(id)     individuals that count against the budget before id
  orphans(exclude)       pending individuals nobody trains (take() one)
  reserve() / abandon()  an id for the next birth / give it up
  kill / birth / finish  publish an event; kill and finish return False if
                         another worker published first
  atomic()               events that must land together (log: one write)
  in_flight()            whether others still birth or train
  resets()               counts at which the population was reset
  note(event)            a record of the run itself (started, recycled)
  now()                  the experiment clock
  holding(id)            heartbeat a claim while the loop trains it
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from evojax_nas.evolution.events import EventLog
from evojax_nas.evolution.history import History, fitness_of, replay
from evojax_nas.evolution.individual import Individual, with_genome
from evojax_nas.evolution.store import PopulationStore, Record

log = logging.getLogger("evojax_nas")


class LogPopulation:
  """One process's population: the event log and the history it replays to.

  Clock: experiment seconds summed over sessions; a restart continues from
  the last event in the log (the time between that event and the restart
  does not count)."""

  keeps_births = True   # a born child is in the log: a fresh process trains it
  gc_grace_s = 0.0      # no other process may have chosen a dead parent

  def __init__(self, event_log: EventLog, strategy):
    self.log = event_log
    self.strategy = strategy
    self.history: History = replay(event_log.read(), strategy,
                                   str(event_log.path))
    self._session_start = time.time()
    self._elapsed_before = self.history.elapsed
    self._buffer: list[dict] | None = None

  def start_clock(self):
    """The session's clock starts now (setting up, e.g. loading the data,
    does not count)."""
    self._session_start = time.time()

  def now(self) -> float:
    return round(self._elapsed_before + time.time() - self._session_start, 3)

  # --- reading ------------------------------------------------------------------
  def individuals(self) -> dict[int, Individual]:
    return dict(self.history.individuals)  # a view that publishing keeps

  def selection_state(self, alive):
    del alive  # the replayed state holds them, in the order the log made
    return self.history.state

  def counted_before(self, ident: int) -> int:
    return sum(1 for i in self.history.individuals if i < ident)

  def orphans(self, exclude=()) -> list[Individual]:
    return [i for i in self.history.pending if i.id not in exclude]

  def take(self, ind: Individual) -> bool:
    del ind
    return True

  def in_flight(self) -> bool:
    return False  # nothing births or trains but this process's loop

  def resets(self) -> set[int]:
    """Counts at which a population reset was done (section 5)."""
    return self.history.resets

  # --- writing ------------------------------------------------------------------
  def _publish(self, *events: dict):
    """Folds events into the history at once; appends them to the log now,
    or at the end of the enclosing `atomic()` block."""
    for e in events:
      self.history.apply(e, self.strategy)
    if self._buffer is not None:
      self._buffer.extend(events)
    else:
      self.log.append(*events)

  @contextlib.contextmanager
  def atomic(self):
    """Events of one decision (kills and a birth, a population reset) land
    in the log with a single write: a crash leaves all or none."""
    if self._buffer is not None:
      yield
      return
    self._buffer = []
    try:
      yield
      if self._buffer:
        self.log.append(*self._buffer)
    finally:
      self._buffer = None

  def reserve(self) -> int:
    return self.history.next_id

  def abandon(self, ident: int):
    del ident

  def kill(self, ident: int, event: dict) -> bool:
    if self.history.individuals[ident].killed_t is not None:
      return False
    self._publish(event)
    return True

  def birth(self, event: dict):
    self._publish(event)

  def finish(self, ident: int, event: dict) -> bool:
    del ident
    self._publish(event)
    return True

  def note(self, event: dict):
    self._publish(event)

  @contextlib.contextmanager
  def holding(self, ident: int):
    del ident
    yield

  def close(self):
    pass


class StorePopulation:
  """One worker's view of the shared population store.

  Clock: seconds since the store's origin on a clock every worker shares;
  a (re)start that finds no live worker moves the origin forward by the
  downtime since the last record (store.resume_clock), so downtime between
  restarts does not count, as in the log backend."""

  keeps_births = False  # a claim of a recycled process blocks others

  def __init__(self, store: PopulationStore, strategy, gc_grace_s: float,
               heartbeat_s: float):
    self.store = store
    self.strategy = strategy
    self.gc_grace_s = gc_grace_s
    self._heartbeat_s = heartbeat_s
    self._records: dict[int, Record] = {}
    self._genomes: dict[int, object] = {}
    self._claimed: set[int] = set()  # reserved or in training: heartbeat
    self._stop = threading.Event()
    self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                  name=f"evojax_nas-heartbeat-{store.worker}")
    self._beat.start()

  def _heartbeat(self):
    while not self._stop.wait(self._heartbeat_s):
      for ident in list(self._claimed):
        self.store.heartbeat(ident)

  def now(self) -> float:
    return self.store.now()

  # --- reading ------------------------------------------------------------------
  def individuals(self) -> dict[int, Individual]:
    self._records = self.store.records()
    for ident, rec in self._records.items():
      if rec.born is not None and ident not in self._genomes:
        self._genomes[ident] = rec.genome  # parsed once per worker
    return {ident: with_genome(rec, self._genomes[ident])
            for ident, rec in self._records.items() if rec.born is not None}

  def selection_state(self, alive: list[Individual]):
    return self.strategy.population([i.id for i in alive],
                                    [fitness_of(self.strategy, i.trained)
                                     for i in alive])

  def _live_reservation(self, rec: Record) -> bool:
    return rec.reserved and not self.store.stale(rec)

  def counted_before(self, ident: int) -> int:
    """Born, or reserved by a worker that is still alive."""
    return sum(1 for r in self._records.values() if r.id < ident and (
        r.born is not None or self._live_reservation(r)))

  def orphans(self, exclude=()) -> list[Individual]:
    """Pending individuals whose trainer is gone or silent too long."""
    self.individuals()
    return [r for r in self._records.values()
            if r.pending and r.id not in exclude and r.id not in self._claimed
            and self.store.stale(r)]

  def take(self, ind: Individual) -> bool:
    rec = self._records[ind.id]
    if not self.store.take_back(rec):
      return False
    log.info("worker %s: training individual %d again (its trainer %s is "
             "gone)", self.store.worker, ind.id,
             (rec.claim or {}).get("worker", "?"))
    return True

  def resets(self) -> set[int]:
    return set()  # a log-only option (the config refuses it with workers)

  def in_flight(self) -> bool:
    """Whether another worker births or trains (or may yet: a pending
    individual whose trainer died is someone's to take back)."""
    recs = self.store.records()
    return any((r.pending or self._live_reservation(r))
               and r.id not in self._claimed for r in recs.values())

  # --- writing ------------------------------------------------------------------
  def atomic(self):
    return contextlib.nullcontext()  # each record is atomic on its own

  def reserve(self) -> int:
    ident = self.store.reserve()
    self._claimed.add(ident)  # heartbeat the reservation's claim meanwhile
    return ident

  def abandon(self, ident: int):
    self.store.abandon(ident)
    self._claimed.discard(ident)

  def _signed(self, event: dict) -> dict:
    return dict(event, worker=self.store.worker)

  def kill(self, ident: int, event: dict) -> bool:
    return self.store.kill(ident, self._signed(event))

  def birth(self, event: dict):
    self.store.birth(event["id"], self._signed(event))

  def finish(self, ident: int, event: dict) -> bool:
    return self.store.finish(ident, self._signed(event))

  def note(self, event: dict):
    del event  # the store holds individuals only; the worker logs the rest

  @contextlib.contextmanager
  def holding(self, ident: int):
    self._claimed.add(ident)
    try:
      yield
    finally:
      self._claimed.discard(ident)

  def close(self):
    self._stop.set()
    self._beat.join()
