"""One asynchronous worker of a shared population (Real et al. 2017, 3.1).

Each worker repeats, without talking to the others:
  1. take back an individual whose trainer died (stale claim), or
  2. reproduce: reserve an id, ask the strategy (pure) about the alive
     individuals it reads from the store, kill the loser (an atomic create
     that fails if another worker killed it first: then ask again), birth a
     mutated copy of the winner with a claim on it;
  3. train it (inheriting the parent's weights), heartbeating the claim,
     and publish the result (atomic; exactly one trainer's result counts);
  4. delete checkpoints nobody can need any more.
Keys come from the root key and the child's id, as in the in-process loop,
but which individuals exist when a child is born depends on the timing of
the workers: runs with workers are not bit-reproducible.

Population size: a birth kills one individual per excess of (alive +
in training) over `population_size - 1`, so a worker killed between a kill
and a birth (size one short) or racing births (a few over) correct
themselves at the next births; a surplus left at the very end is trimmed
(the worst die) when the workers finish.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

import jax
import ml_collections

from evojax_nas import strategies
from evojax_nas.experiment.runner import (evaluate_or_discard,
                                          threshold_for_test, trained_event,
                                          training_setup)
from evojax_nas.experiment.recycle import Recycler, RecycleNeeded
from evojax_nas.experiment.store import PopulationStore, Record
from evojax_nas.genomes import spaces
from evojax_nas.genomes.spaces import genome_from_json

log = logging.getLogger("evojax_nas")


class Worker:
  """Evolves the population in `<workdir>/population` until the budget is
  spent and no individual is left in training."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path,
               name: str):
    self.config = config
    self.workdir = Path(workdir).absolute()
    self.name = name
    w = config.workers
    self.store = PopulationStore(self.workdir / "population", name,
                                 w.claim_timeout_s)
    self.strategy = strategies.make(
        config.strategy, config.population_size + max(config.num_workers, 1),
        config.sample_size, dict(config.genetic))
    self.space = spaces.make(config.search_space, config)
    self.root_key = jax.random.key(config.seed)
    (_, _, self.checkpoints, self.cache,
     self.evaluator) = training_setup(config, self.workdir)
    self._poll_s = min(1.0, w.heartbeat_s)
    self.recycler = Recycler(config.resources)
    self._claimed: set[int] = set()  # reserved or in training: heartbeat
    self._stop = threading.Event()
    self._beat = threading.Thread(target=self._heartbeat, daemon=True,
                                  name=f"evojax_nas-heartbeat-{name}")

  # --- claims -------------------------------------------------------------------
  def _heartbeat(self):
    while not self._stop.wait(self.config.workers.heartbeat_s):
      for ident in list(self._claimed):
        self.store.heartbeat(ident)

  # --- budget -------------------------------------------------------------------
  def _counted(self, recs: dict[int, Record]) -> list[Record]:
    """Individuals that count against the budget: born, or reserved by a
    worker that is still alive."""
    return [r for r in recs.values() if r.born is not None or (
        r.reserved and not self.store.stale(r))]

  def _over_budget(self, n: int) -> bool:
    """Whether an individual that is number `n` (from 0) exceeds it."""
    c = self.config
    return bool((c.max_individuals and n >= c.max_individuals)
                or (c.max_steps and (n + 1) * c.steps_per_individual
                    > c.max_steps)
                or (c.time_budget_s and self.store.now() >= c.time_budget_s))

  # --- reproduction ---------------------------------------------------------------
  def _killed(self, ident: int, reason: str, by=None) -> dict:
    return {"event": "killed", "id": ident, "t": self.store.now(),
            "reason": reason, "by": by, "worker": self.name}

  def _reproduce(self, wait: bool = True) -> Record | None:
    """Births one child (killing as needed); None if over budget, or if
    too few individuals are trained yet and not `wait` (a worker must not
    wait for its own children)."""
    c = self.config
    ident = self.store.reserve()
    self._claimed.add(ident)  # heartbeat the reservation's claim meanwhile
    key = jax.random.fold_in(self.root_key, ident)
    for attempt in range(10_000):
      recs = self.store.records()
      earlier = [r for r in self._counted(recs) if r.id < ident]
      if self._over_budget(len(earlier)):
        self.store.abandon(ident)
        self._claimed.discard(ident)
        return None
      born = [r for r in recs.values() if r.born is not None]
      if len(born) < c.population_size:
        genome = self.space.initial(jax.random.fold_in(key, 1))
        parent, mutation = None, "initial"
        break
      alive = [r for r in recs.values() if r.alive]
      size = len(alive) + sum(r.pending for r in recs.values())
      if len(alive) < c.sample_size:  # the first ones are still training
        if not wait:
          self.store.abandon(ident)
          self._claimed.discard(ident)
          return None
        time.sleep(self._poll_s)
        continue
      state = self.strategy.population([r.id for r in alive],
                                       [r.trained["val_accuracy"]
                                        for r in alive])
      action = self.strategy.ask(
          jax.random.fold_in(jax.random.fold_in(key, 0), attempt), state)
      parent, victim = int(action.parent), int(action.victim)
      if size >= c.population_size:
        if not self.store.kill(victim, self._killed(victim, c.strategy,
                                                    by=ident)):
          continue  # another worker killed it first: ask again
        if size - 1 >= c.population_size:
          continue  # still too many (racing births): one more kill first
      genome, mutation = self.space.mutate(
          genome_from_json(recs[parent].born["genome"]),
          jax.random.fold_in(key, 1), count=c.mutations_per_child)
      break
    else:
      raise RuntimeError(f"worker {self.name}: no birth after 10000 tries")
    born = {"event": "born", "id": ident, "t": self.store.now(),
            "parent": parent, "mutation": mutation,
            "genome": genome.to_json(), "signature": genome.signature_hash(),
            "worker": self.name}
    self.store.birth(ident, born)
    return Record(id=ident, born=born)

  def _trim(self, recs: dict[int, Record]):
    """At the end, kills the surplus of racing births (two workers that
    both saw one place free) that no later birth corrected: the worst
    (ties: the oldest), the same choice in every worker, so concurrent
    trims agree."""
    while True:
      alive = sorted((r for r in recs.values() if r.alive),
                     key=lambda r: (r.trained["val_accuracy"], r.id))
      if len(alive) <= self.config.population_size:
        return
      victim = alive[0].id
      if self.store.kill(victim, self._killed(victim, "population_size")):
        log.info("worker %s: killed individual %d, one over the population "
                 "size", self.name, victim)
      recs = self.store.records()

  # --- training -------------------------------------------------------------------
  def _discard(self, ident: int, err: Exception):
    del err
    self.store.kill(ident, self._killed(ident, "checkpoint_corrupt"))
    self.checkpoints.delete(ident)

  def _train(self, rec: Record, recs: dict[int, Record]):
    born = rec.born
    genome = genome_from_json(born["genome"])
    key = jax.random.fold_in(jax.random.fold_in(self.root_key, rec.id), 2)
    parent, p = None, recs.get(born["parent"])
    if p is not None and p.id in set(self.checkpoints.ids()):
      parent = (p.id, genome_from_json(p.born["genome"]))
    self._claimed.add(rec.id)
    t0 = time.perf_counter()
    try:
      r = evaluate_or_discard(
          self.evaluator, key, rec.id, genome, parent, None,
          not self.space.inherits_nothing(born["mutation"]),
          threshold_for_test(self.config, [x.trained["val_accuracy"]
                                       for x in recs.values() if x.trained]),
          self._discard)
    finally:
      self._claimed.discard(rec.id)
    event = trained_event(rec.id, genome, r, self.store.now(),
                          time.perf_counter() - t0, self.cache.stats(),
                          worker=self.name)
    self.recycler.count()
    if self.store.finish(rec.id, event):
      log.info("worker %s: individual %d (%s, parent %s): val %.4f, %.1f s, "
               "%s", self.name, rec.id, born["mutation"], born["parent"],
               r.val_accuracy, event["wall_s"], genome.describe())
    else:
      log.info("worker %s: individual %d was finished by another worker "
               "(its claim had been taken back); this result is dropped",
               self.name, rec.id)

  def _collect_garbage(self, recs: dict[int, Record]):
    """Deletes checkpoints of the dead, except the top-k ever (export and
    ensemble), parents of individuals in training, and the recently killed
    (a worker may have just chosen one as parent). Individuals in training
    keep theirs: it may be saved before their record is published."""
    c, now = self.config, self.store.now()
    trained = sorted((r for r in recs.values() if r.trained),
                     key=lambda r: (-r.trained["val_accuracy"], r.id))
    keep = {r.id for r in trained[:c.ensemble_size]}
    keep |= {r.id for r in recs.values() if r.alive or r.pending}
    keep |= {r.born["parent"] for r in recs.values() if r.pending}
    keep |= {r.id for r in recs.values() if r.killed and
             now - float(r.killed["t"]) < c.workers.gc_grace_s}
    for ident in self.checkpoints.ids():
      if ident in recs and ident not in keep:
        self.checkpoints.delete(ident)
    self.checkpoints.remove_temporaries(c.workers.claim_timeout_s)

  # --- the loop ---------------------------------------------------------------------
  def run(self) -> int:
    """Works until the budget is spent and nothing is left in training;
    returns how many individuals this worker trained. Near its memory
    limits it raises `RecycleNeeded` at a safe point, holding no claim (the
    caller starts a fresh process, see recycle.py).

    With `compile_ahead`, the worker births its next child when the current
    one starts training and compiles it meanwhile (as the in-process loop
    does): it holds two claims, and the next child is selected from a
    population without the current one's result.
    """
    trained, ahead = 0, None
    self._beat.start()
    log.info("worker %s started on %s", self.name, self.workdir)
    try:
      while True:
        recs = self.store.records()
        orphan = next((r for r in recs.values()
                       if r.pending and self.store.stale(r)
                       and r.id not in self._claimed), None)
        if orphan is not None:
          if self.store.take_back(orphan):
            log.info("worker %s: training individual %d again (its trainer "
                     "%s is gone)", self.name, orphan.id,
                     (orphan.claim or {}).get("worker", "?"))
            self._train(orphan, recs)
            trained += 1
          continue
        if ahead is not None:
          child, ahead = ahead, None
        elif not self._over_budget(len(self._counted(recs))):
          child = self._reproduce()
        else:
          if not any(r.pending or (r.reserved and not self.store.stale(r))
                     for r in recs.values()):
            self._trim(recs)
            break  # budget spent, no birth or training under way: done
          time.sleep(self._poll_s)  # others still train; they may die
          continue
        if child is None:
          continue
        recycling = self.recycler.due()  # then no child ahead: a safe point
        if self.config.compile_ahead and not recycling and not self._over_budget(
            len(self._counted(self.store.records()))):
          ahead = self._reproduce(wait=False)
          if ahead is not None:
            self.evaluator.compile_async(genome_from_json(
                ahead.born["genome"]))
        self._train(child, self.store.records())
        trained += 1
        self._collect_garbage(self.store.records())
        reason = ahead is None and self.recycler.due()
        if reason and not self._over_budget(
            len(self._counted(self.store.records()))):
          # Nothing of this worker's is reserved or in training.
          log.warning("worker %s: recycling the process: %s; a fresh one "
                      "carries on", self.name, reason)
          raise RecycleNeeded(reason)
    finally:
      self._stop.set()
      self._beat.join()
      self.checkpoints.close()
      self.cache.close()
    log.info("worker %s finished: %d individuals trained", self.name, trained)
    return trained
