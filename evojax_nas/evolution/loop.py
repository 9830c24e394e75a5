"""The reproduction loop of Large-Scale Evolution (Real et al. 2017, 3.1),
once, for the in-process run and for every worker.

One reproduction event, on a population backend (population.py):
  id       = population.reserve()
  key      = keys.individual(root, id)                     a pure function
  birth    = birth.birth(snapshot, key=key, ...)           pure (birth.py):
             parent, victim, recombination, mutation -> killed, born
  killed   -> population.kill(victim)    (a lost race: a fresh try)
  born     -> population.birth(child)    (with the kill: population.atomic)
  result   = slots.train_child(child, parent's weights)    device, disk
  trained  -> population.finish(child)
  garbage  = checkpoints no reader can need any more
The loop only schedules: the budget, slots and children in flight,
polling for a sample, kill races, publishing in birth order, garbage
collection and the recycle check.

With S slots the loop keeps S children in flight, each compiling and
training on its slot's device (train/trainer.py: lanes) while the others
train: S staggered asynchronous workers of the paper in one process.
Results are published in birth order and child n is born right after the
result of child n - S, whatever order the slots finish in; so on the event
log the choices stay a pure function of the seed and S (S = 2 is one child
training and the next compiling ahead); on the shared store they depend on
how the workers interleave.

Budgets (`max_individuals`, `max_steps`, `time_budget_s`, the last two
less the share `final.fraction` kept for retraining the best) count every
individual born (or reserved by a live worker) before a child: a child is
born only if it fits whole. The clock is the backend's `now()`: downtime
between restarts does not count on either backend.

`Loop` holds what the steady-state loop and the generational loop
(generational.py) share: the snapshot a birth reads and the publishing of
its events, training with inheritance and its log record, garbage
collection and the recycle check.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import time
from typing import Any

import jax

from evojax_nas import config as config_lib
from evojax_nas import stop
from evojax_nas.evolution import birth, events, keys
from evojax_nas.evolution.history import front_of
from evojax_nas.evolution.individual import Individual, with_genome

log = logging.getLogger("evojax_nas")


class RecycleNeeded(Exception):
  """This process should hand over to a fresh one (at a safe point).

  Raised by `Loop.recycle_if_due` when the injected `recycler` says so;
  whoever runs the loop starts the fresh process (runs/recycle.py)."""


def over_budget(config, n: int, now: float, ahead_s: float = 0.0) -> bool:
  """Whether an individual with `n` counted before it exceeds the budget;
  `ahead_s`: seconds before it would start training (born ahead)."""
  c = config
  max_steps, time_budget_s = config_lib.search_budgets(c)
  return bool((c.max_individuals and n >= c.max_individuals)
              or (max_steps and (n + 1) * c.steps_per_individual > max_steps)
              or (time_budget_s and now + ahead_s >= time_budget_s))


def threshold_for_test(config, val_accuracies) -> float | None:
  """`test_above` for the trainer: which individuals get a test score."""
  return {"all": -1.0, "none": None}.get(config.evaluate_test,
                                         max(val_accuracies, default=-1.0))


@dataclasses.dataclass
class InFlight:
  """A child training on a slot: its result arrives in `future`."""
  individual: Individual
  slot: int
  claim: contextlib.ExitStack     # heartbeats its claim (store backend)
  future: Any = None          # its Result, from a slot's thread
  discarded: list = dataclasses.field(default_factory=list)
  t0: float = dataclasses.field(default_factory=time.perf_counter)


class Loop:
  """The pieces of a reproduction loop on one population backend.

  `on_trained(event)` is called after each published result (the progress
  bar, TensorBoard); `name` prefixes log lines (a worker's). `recycler`
  (recycle.Recycler, supplied by whoever runs the loop) counts trained
  individuals (`count()`), says when the process should recycle (`due()`)
  and makes its `recycled` record (`event(reason, t)`)."""

  def __init__(self, config, *, space, population, trainer, recycler,
               root_key: jax.Array, name: str = "", on_trained=(),
               slots: int | None = None):
    self.slots = trainer.slots if slots is None else slots
    self.config = config
    self.space = space
    self.population = population
    self.strategy = population.strategy
    self.trainer = trainer
    self.recycler = recycler
    self.root_key = root_key
    self._who = f"worker {name}: " if name else ""
    self._on_trained = list(on_trained)

  # --- records ----------------------------------------------------------------
  def killed_event(self, ident, reason, by=None) -> dict:
    return events.killed(ident, t=self.population.now(), reason=reason, by=by)

  def snapshot(self, ident: int, attempt: int = 0) -> birth.Snapshot:
    """What a birth of `ident` reads of the population now."""
    pop = self.population
    return birth.Snapshot(ident=ident, individuals=pop.individuals(),
                          now=pop.now(), state=pop.selection_state,
                          attempt=attempt)

  def budget_spent(self, counted: int, ahead_s: float = 0.0) -> bool:
    """The one budget rule of both loops (`over_budget` on this backend's
    clock): whether an individual with `counted` individuals counted
    before it, `ahead_s` seconds before it would train, exceeds it."""
    return over_budget(self.config, counted, self.population.now(),
                       ahead_s=ahead_s)

  def record(self, evs: list[dict]):
    """Publishes a birth's events in order (on the log, where no kill
    loses a race; SteadyState._birth handles the store's)."""
    for e in evs:
      if e["event"] == "killed":
        self.population.kill(e["id"], e)
      elif e["event"] == "born":
        self.population.birth(e)
      else:
        self.population.note(e)

  # --- training ---------------------------------------------------------------
  def drop_alive_without_checkpoint(self):
    """Alive individuals whose checkpoint was removed (e.g. after a
    corruption report) leave the population, logged."""
    saved = self.trainer.kept()
    for ind in list(self.population.individuals().values()):
      if ind.alive and ind.id not in saved:
        log.warning("individual %d has no checkpoint; removing it from the "
                    "population", ind.id)
        self.population.kill(ind.id, self.killed_event(
            ind.id, "checkpoint_missing"))

  def _discard(self, ident: int):
    """A parent whose checkpoint is unusable leaves the population."""
    if self.population.individuals()[ident].killed_t is None:
      self.population.kill(ident, self.killed_event(ident,
                                                    "checkpoint_corrupt"))
    self.trainer.discard(ident)

  def start_training(self, ind: Individual, slot: int, pool) -> "InFlight":
    """Starts training `ind` (inheriting from its parent, and its partner's
    weights where recombination averages them) on slot `slot` of the
    trainer's open slots `pool`; everything it reads of the population is read
    here, on the loop's thread."""
    inds = self.population.individuals()
    key = keys.stream(keys.individual(self.root_key, ind.id),
                      keys.Stream.TRAIN)
    saved = self.trainer.kept()
    parent = partner = None
    if ind.parent is not None and ind.parent in saved:
      parent = (ind.parent, inds[ind.parent].genome)
    p = ind.born.get("partner")
    if (self.config.recombination.mode == "weights" and p is not None
        and p in saved):
      partner = (p, inds[p].genome)
    test_above = threshold_for_test(self.config, [
        i.val_accuracy for i in inds.values() if i.trained])
    flight = InFlight(ind, slot, contextlib.ExitStack())
    flight.claim.enter_context(self.population.holding(ind.id))
    flight.future = pool.train_child(
        key, ind.id, ind.genome, parent=parent,
        partner=partner, inherit=not self.space.inherits_nothing(
            ind.mutation), test_above=test_above,
        discard=lambda ident, err: flight.discarded.append(ident), slot=slot)
    return flight

  def publish(self, flight: "InFlight") -> dict | None:
    """Waits for `flight`'s result and publishes it; None if another worker
    published first (it had taken the claim back)."""
    ind = flight.individual
    try:
      r = flight.future.result()
    finally:
      flight.claim.close()
    for ident in flight.discarded:  # unusable parents leave, logged here
      self._discard(ident)
    event = events.trained(ind.id, genome=ind.genome, r=r,
                           t=self.population.now(),
                           wall_s=time.perf_counter() - flight.t0,
                           cache_stats=self.trainer.compile_stats())
    event["slot"] = flight.slot
    self.recycler.count()
    if not self.population.finish(ind.id, event):
      log.info("%sindividual %d was finished by another worker (its claim "
               "had been taken back); this result is dropped", self._who,
               ind.id)
      return None
    for hook in self._on_trained:
      hook(event)
    log.info("%sindividual %d (%s, parent %s): val %.4f test %s, %.1f s, %s",
             self._who, ind.id, ind.mutation, ind.parent, r.val_accuracy,
             "-" if r.test_accuracy is None else f"{r.test_accuracy:.4f}",
             event["wall_s"], ind.genome.describe())
    return event

  def free_slot(self, flights) -> int:
    """The lowest slot no child in `flights` holds."""
    return min(set(range(self.slots)) - {f.slot for f in flights})

  def slot_pool(self):
    """The trainer's slots (`Trainer.open_slots`): children train on their
    threads; on leaving, trainings in flight are dropped and their
    children stay pending in the population."""
    return self.trainer.open_slots(self.slots)

  def collect_garbage(self):
    """Deletes checkpoints of the dead, except the top-k ever (export and
    ensemble), the Pareto front when selecting on costs (exported at the
    end), the alive and pending, parents and partners of pending
    individuals, and the recently killed (on a shared store a worker may
    have just chosen one as parent)."""
    c, now = self.config, self.population.now()
    inds = self.population.individuals()
    trained = sorted((i for i in inds.values() if i.trained),
                     key=lambda i: (-i.val_accuracy, i.id))
    keep = {i.id for i in trained[:max(c.ensemble_size, c.final.candidates)]}
    costs = tuple(c.objectives)[1:]
    if costs:
      keep |= {i.id for i in front_of(list(inds.values()), costs)}
    for i in inds.values():
      if i.alive or i.killed_t is None:  # alive, or pending
        keep.add(i.id)
        if not i.trained:
          keep |= {i.parent, i.born.get("partner")}
      elif now - i.killed_t < self.population.gc_grace_s:
        keep.add(i.id)
    for ident in self.trainer.kept():
      if ident in inds and ident not in keep:
        self.trainer.discard(ident)
    self.trainer.remove_temporaries(self.config.workers.claim_timeout_s)

  def recycle_if_due(self, more_work: bool):
    """At a safe point (the last result published, nothing of this loop's
    in training): hands over to a fresh process if this one nears its
    limits and `more_work` is left (finishing needs no fresh process)."""
    reason = more_work and self.recycler.due()
    if reason:
      log.warning("%srecycling the process: %s; a fresh one carries on",
                  self._who, reason)
      self.population.note(self.recycler.event(reason,
                                                self.population.now()))
      raise RecycleNeeded(reason)


class SteadyState(Loop):
  """Tournament, aging, kill-worst and random evolution: one child at a
  time, each replacing one member of the population."""

  def __init__(self, *args, **kwargs):
    super().__init__(*args, **kwargs)
    self._poll_s = min(1.0, self.config.workers.heartbeat_s)

  # --- births -----------------------------------------------------------------
  def _more_work(self, flights) -> bool:
    """Whether anything is left to birth or train after this child."""
    pop = self.population
    orphans = pop.orphans()  # (a fresh view for the count)
    return (bool(flights) or bool(orphans)
            or not self.budget_spent(pop.counted_before(float("inf"))))

  def reproduce(self, wait: bool, ahead_s: float = 0.0) -> Individual | None:
    """Births one child (birth.py), killing as needed; None if over the
    budget, or if fewer individuals than a tournament sample are trained
    and not `wait` (a loop must not wait for its own child)."""
    pop = self.population
    ident = pop.reserve()
    with pop.atomic():  # on the log: the kills and the birth in one write
      b = self._birth(ident, wait, ahead_s)
      if b is None:
        pop.abandon(ident)
        return None
      pop.birth(b.born)
    return with_genome(Individual(ident, born=b.born), b.genome)

  def _birth(self, ident: int, wait: bool, ahead_s: float
             ) -> birth.Birth | None:
    """Tries `birth.birth` until the child is born, publishing each try's
    kill; a kill that lost its race, or left the population over its size,
    means a fresh try (`attempt` + 1). Too few alive for a sample: None
    unless `wait`; a poll while others train; else (checkpoints discarded,
    nobody else trains) an initial individual refills the population."""
    key, pop = keys.individual(self.root_key, ident), self.population
    for attempt in range(10_000):
      snap = self.snapshot(ident, attempt)  # (the store's budget count too)
      if self.budget_spent(pop.counted_before(ident), ahead_s):
        return None
      b = birth.birth(snap, strategy=self.strategy, space=self.space,
                      key=key, config=self.config)
      if b is None and not wait:
        return None
      if b is None and pop.in_flight():
        time.sleep(self._poll_s)  # the first ones are still training
        continue
      if b is None:
        b = birth.initial(snap, space=self.space, key=key, config=self.config)
      if b.killed is not None and not pop.kill(b.killed["id"], b.killed):
        continue  # another worker killed it first: ask again
      if b.born is not None:
        return b
    raise RuntimeError(f"{self._who}no birth after 10000 tries")

  def reset_population(self):
    """Population-wide weight resets (Real et al. 2017, section 5): at each
    configured count of trained individuals, every alive individual is
    replaced by a copy of itself that trains from fresh weights
    (birth.population_reset)."""
    pop = self.population
    for at in self.config.escape.reset_population_at:
      inds = pop.individuals()
      if at in pop.resets() or sum(1 for i in inds.values()
                                   if i.trained) < at:
        continue
      evs = birth.population_reset(self.snapshot(max(inds, default=-1) + 1),
                                   at)
      with pop.atomic():
        self.record(evs)
      log.info("population reset at %d trained individuals: %d retrain from "
               "fresh weights", at, (len(evs) - 1) // 2)

  def trim(self):
    """At the end, kills the surplus of racing births (two workers that
    both saw one place free) that no later birth corrected: the worst
    (ties: the oldest), the same choice in every worker, so concurrent
    trims agree."""
    while True:
      alive = sorted((i for i in self.population.individuals().values()
                      if i.alive), key=lambda i: (i.val_accuracy, i.id))
      if len(alive) <= self.config.population_size:
        return
      victim = alive[0].id
      if self.population.kill(victim, self.killed_event(victim,
                                                        "population_size")):
        log.info("%skilled individual %d, one over the population size",
                 self._who, victim)

  # --- the loop ---------------------------------------------------------------
  def _next(self, held: Individual | None, exclude=()) -> Individual | None:
    """The child to train next: the one born ahead, else one whose trainer
    is gone (an interrupted run's, a dead worker's), else None."""
    if held is not None:
      return held
    for orphan in self.population.orphans(exclude):
      if self.population.take(orphan):
        return orphan
    return None

  def run(self) -> int:
    """Works until the budget is spent and nothing is left in training;
    returns how many individuals this loop trained. Near its process's
    limits it raises `RecycleNeeded` at a safe point."""
    pop, trained = self.population, 0
    flights: collections.deque[InFlight] = collections.deque()
    done = [i for i in pop.individuals().values() if i.trained]
    last_s = done[-1].trained["wall_s"] if done else 0.0  # a training's time
    lanes = self.trainer.lanes
    with self.slot_pool() as pool:
      while True:
        stop.raise_if_requested()  # a Ctrl-C or SIGTERM that got lost
        self.reset_population()
        # Fill the free slots. Where a claim would outlive the process,
        # recycle holding none: no births ahead once a recycle is due.
        while len(flights) < self.slots and (
            not flights or pop.keeps_births or not self.recycler.due()):
          busy = {f.individual.id for f in flights}
          child = self._next(None, exclude=busy) or self.reproduce(
              wait=not flights,
              ahead_s=last_s * math.ceil(len(flights) / lanes))
          if child is None:
            break
          flights.append(self.start_training(child, self.free_slot(flights),
                                             pool))
        if not flights:
          if pop.in_flight():
            time.sleep(self._poll_s)  # others still train; they may die
            continue
          self.trim()
          return trained
        event = self.publish(flights.popleft())
        trained += 1
        last_s = event["wall_s"] if event else last_s
        self.collect_garbage()
        if not flights or pop.keeps_births:
          self.recycle_if_due(self._more_work(flights))
