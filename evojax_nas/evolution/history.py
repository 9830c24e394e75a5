"""The experiment's state, rebuilt by replaying the event log.

The log is the single source of truth: the running process and a restart
derive the population from it (the report reads the individuals' lives
without the strategy: individual.py). Replaying `killed` and `trained`
events through the strategy's pure `remove`/`tell` gives back exactly the
strategy state the run had, so a resumed run makes the same choices.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import jax

from evojax_nas.evolution import events as events_lib
from evojax_nas.evolution.events import EventLogError
from evojax_nas.evolution.individual import Individual, costs_of, record
from evojax_nas.fronts import non_dominated
from evojax_nas.workdir import EVENTS


def fitness_of(strategy, trained: dict):
  """What `strategy` compares of a `trained` event: the validation accuracy,
  followed by the costs it selects on if it is multi-objective."""
  names = getattr(strategy, "cost_names", ())
  if not names:
    return trained["val_accuracy"]
  return [trained["val_accuracy"], *costs_of(trained, names)]


def front_of(individuals, costs: tuple[str, ...]) -> list[Individual]:
  """The Pareto front of the trained `individuals`: highest validation
  accuracy against lowest `costs` (names in the `trained` events'
  "costs"), in the given order; those without the costs are left out."""
  inds = [i for i in individuals if i.trained is not None and not i.failed
          and all(
      c in (i.trained.get("costs") or {}) for c in costs)]
  points = [[-i.val_accuracy, *(i.trained["costs"][c] for c in costs)]
            for i in inds]
  return [inds[k] for k in non_dominated(points)] if inds else []


def _no_key():
  """A key tell() ignores for these strategies (made per call: an array made
  at import would start JAX's backends before a run chose its CPU devices)."""
  return jax.random.key(0)


@dataclasses.dataclass
class History:
  individuals: dict[int, Individual]
  state: Any            # the strategy's population state
  elapsed: float        # experiment seconds already spent (all sessions)
  generations: list[dict] = dataclasses.field(default_factory=list)
  resets: set[int] = dataclasses.field(default_factory=set)  # population resets
  slots: int | None = None  # the schedule's S, from the first `started`

  @property
  def trained(self) -> list[Individual]:
    return [i for i in self.individuals.values() if i.trained is not None]

  @property
  def pending(self) -> list[Individual]:
    """Born, not trained, not killed: interrupted mid-training."""
    return [i for i in self.individuals.values() if i.pending]

  @property
  def alive(self) -> list[Individual]:
    return [i for i in self.individuals.values() if i.alive]

  @property
  def next_id(self) -> int:
    return max(self.individuals, default=-1) + 1

  def top(self, k: int) -> list[Individual]:
    """The k best trained individuals by validation accuracy (ties: older),
    those whose training failed left out."""
    return sorted((i for i in self.trained if not i.failed),
                  key=lambda i: (-i.val_accuracy, i.id))[:k]

  @property
  def total_flops(self) -> int:
    return sum(int(i.trained["flops"]["total"]) for i in self.trained)

  def front(self, costs: tuple[str, ...]) -> list[Individual]:
    """`front_of` the trained individuals."""
    return front_of(self.trained, costs)

  def apply(self, e: dict, strategy) -> None:
    """Folds one event into the history and the strategy state."""
    kind, ident = e.get("event"), e.get("id")
    self.elapsed = max(self.elapsed, float(e.get("t", 0.0)))
    ind = record(self.individuals, e)
    if kind == "trained":
      if ind.killed_t is None and not strategy.generational:
        self.state, _ = strategy.tell(_no_key(), self.state, ident,
                                      fitness_of(strategy, e))
    elif kind == "killed":
      if not strategy.generational:
        self.state = strategy.remove(self.state, ident)
    elif kind == "generation":
      # A finished generation replaces the strategy's population at once.
      self.state, _ = strategy.tell(_no_key(), self.state, e["ids"],
                                    e["fitness"])
      self.generations.append(e)
    elif kind == "population_reset":
      self.resets.add(e["at"])
    elif kind == "started" and self.slots is None and "slots" in e:
      self.slots = int(e["slots"])  # the schedule's S, kept on resume


def replay(events: list[dict], strategy, path: str = EVENTS) -> History:
  """Rebuilds the history; EventLogError naming the bad event if the log is
  inconsistent (e.g. two processes wrote it, or it was hand-edited)."""
  history = History(individuals={}, state=strategy.init(), elapsed=0.0)
  for n, e in enumerate(events, 1):
    try:
      history.apply(e, strategy)
    except events_lib.FOLD_ERRORS as err:
      raise EventLogError(f"{path}:{n}: {events_lib.explain(e, err)}; "
                          f"{events_lib.repair_hint(path)}") from None
  return history


def first_damage(path: Path, strategy) -> tuple[int, str] | None:
  """`events.first_damage` of the log replayed through `strategy`."""
  history = History(individuals={}, state=strategy.init(), elapsed=0.0)
  return events_lib.first_damage(path, lambda e: history.apply(e, strategy))
