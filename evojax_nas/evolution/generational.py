"""The generational loop of Genetic CNN (Xie & Yuille 2017, 3.2), built from
the reproduction loop's pieces (loop.py) on the event log.

A generation is born in one append (random strings first, then the
strategy's plan applied to the parents' strings), its members train side
by side on the loop's slots (results published in order), then a
`generation` event records each member's fitness (the mean over every
evaluation of the same string: a survivor is evaluated again each
generation, 3.2.4) and the previous generation dies; `strategy.tell` folds that event into the state.
"""

from __future__ import annotations

import collections
import logging

import numpy as np

from evojax_nas import stop
from evojax_nas.evolution import birth, events
from evojax_nas.evolution.individual import Individual
from evojax_nas.evolution.loop import Loop

log = logging.getLogger("evojax_nas")


def _moments(x) -> dict:
  x = np.asarray(x, dtype=float)
  return {"max": float(x.max()), "min": float(x.min()),
          "mean": float(x.mean()), "median": float(np.median(x)),
          "std": float(x.std())}


def generation_stats(members: list[Individual], fitness: list[float]
                     ) -> dict:
  """Fitness statistics of a generation, its best, and the test accuracy's
  where every member has one."""
  best = members[int(np.argmax(fitness))]
  stats = dict(_moments(fitness), best_id=best.id,
               best_genome=best.genome.describe())
  tests = [i.trained["test_accuracy"] for i in members
           if i.trained.get("test_accuracy") is not None]
  if len(tests) == len(members):
    stats["test"] = _moments(tests)
  return stats


class Generational(Loop):
  """Generation after generation until `max_generations` (or another
  budget) is reached; the population backend is the event log."""

  @property
  def history(self):
    return self.population.history

  def budget_left(self) -> bool:
    """Whether a whole next generation fits the budget: the steady-state
    rule (`Loop.budget_spent`) for its last member, and
    `max_generations`."""
    c, h = self.config, self.history
    if c.max_generations and len(h.generations) > c.max_generations:
      return False  # generation 0 plus T generations done
    counted = self.population.counted_before(h.next_id)  # all born so far
    return not self.budget_spent(counted + c.population_size - 1)

  def birth_generation(self, gen: int) -> list[Individual]:
    """Logs the births of generation `gen` (birth.generation) in one
    append."""
    h = self.history
    births = birth.generation(
        self.snapshot(h.next_id), strategy=self.strategy, space=self.space,
        root_key=self.root_key, config=self.config, gen=gen)
    with self.population.atomic():
      self.record(births)
    return [h.individuals[e["id"]] for e in births]

  def _mean_fitness(self, ind: Individual) -> float:
    """Validation accuracy averaged over every evaluation of the string."""
    return float(np.mean([i.val_accuracy for i in self.history.trained
                          if i.genome == ind.genome]))

  def finish_generation(self, gen: int, members: list[Individual]):
    """Logs the generation's fitness and statistics; its predecessors die."""
    h = self.history
    fitness = [self._mean_fitness(i) for i in members]
    stats = generation_stats(members, fitness)
    with self.population.atomic():
      for i in h.alive:
        if i.generation is not None and i.generation < gen:
          self.population.kill(i.id, self.killed_event(i.id, "generation",
                                                       by=gen))
      self.population.note(events.generation(
          gen, t=self.population.now(), ids=[i.id for i in members],
          fitness=fitness, stats=stats))
    log.info("generation %d: max %.4f min %.4f mean %.4f median %.4f std "
             "%.4f best %s", gen, stats["max"], stats["min"], stats["mean"],
             stats["median"], stats["std"], stats["best_genome"])

  def _published(self, flight, more: bool):
    """Publishes a member's result (the generation's members train on the
    slots side by side, published in order), then collects garbage and
    recycles if due and `more` of the generation is left."""
    self.publish(flight)
    self.collect_garbage()
    self.recycle_if_due(more)

  def run(self) -> int:
    h, trained = self.history, 0
    while True:
      gen = len(h.generations)
      members = [i for i in h.individuals.values() if i.generation == gen]
      if not members:
        if not self.budget_left():
          return trained
        members = self.birth_generation(gen)
      todo = [i for i in members if i.trained is None]
      with self.slot_pool() as pool:
        flights = collections.deque()
        for ind in todo:
          stop.raise_if_requested()  # a Ctrl-C or SIGTERM that got lost
          if len(flights) == self.slots:
            self._published(flights.popleft(), more=True)
          flights.append(self.start_training(ind, self.free_slot(flights),
                                             pool))
        while flights:
          self._published(flights.popleft(), more=bool(flights))
      trained += len(todo)
      self.finish_generation(gen, members)
