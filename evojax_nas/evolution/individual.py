"""One individual, modelled once: its `born`, `trained` and `killed` events.

The log's replay (history.py), the shared store's records (store.py: a
`Record` is an Individual plus its claim) and the report
(reports/report.py) all hold an individual as this. No JAX: the genome is
parsed from the `born` event on first use, or handed over parsed
(`with_genome`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any

from evojax_nas.genomes.formats import genome_from_json


@dataclasses.dataclass
class Individual:
  id: int
  born: dict[str, Any] | None = None     # the `born` event (None: reserved)
  trained: dict[str, Any] | None = None  # the `trained` event
  killed: dict[str, Any] | None = None   # the `killed` event

  @functools.cached_property
  def genome(self) -> Any:
    """The genome of the `born` event (set it to hand one over parsed)."""
    return genome_from_json(self.born["genome"])

  @property
  def parent(self) -> int | None:
    return self.born["parent"]

  @property
  def mutation(self) -> str:
    return self.born["mutation"]

  @property
  def generation(self) -> int | None:
    """Its generation (generational strategies only)."""
    return self.born.get("generation")

  @property
  def killed_t(self) -> float | None:
    return None if self.killed is None else float(self.killed["t"])

  @property
  def pending(self) -> bool:
    """Born, not trained, not killed: in training (or interrupted)."""
    return (self.born is not None and self.trained is None
            and self.killed is None)

  @property
  def alive(self) -> bool:
    return self.trained is not None and self.killed is None

  @property
  def failed(self) -> bool:
    """Its training diverged (NaN or infinite loss): never an answer."""
    return bool(self.trained and self.trained.get("failed"))

  @property
  def val_accuracy(self) -> float:
    return self.trained["val_accuracy"] if self.trained else float("nan")


def with_genome(ind: Individual, genome) -> Individual:
  """`ind` holding `genome` already parsed (no parse on first use)."""
  ind.genome = genome
  return ind


def individuals(events) -> dict[int, Individual]:
  """Every individual the events name, by id (in order of first mention),
  each with its born, trained and killed events; lenient, for readers of
  a log being written (history.replay checks a log strictly)."""
  out: dict[int, Individual] = {}
  for e in events:
    kind = e.get("event")
    if kind in ("born", "trained", "killed"):
      ind = out.setdefault(e["id"], Individual(e["id"]))
      setattr(ind, kind, e)
  return out


def _require(e: dict, *fields: str):
  """KeyError naming the first of `fields` that event `e` lacks."""
  missing = [f for f in fields if f not in e]
  if missing:
    raise KeyError(missing[0])


def record(lives: dict[int, Individual], e: dict) -> Individual | None:
  """Folds event `e` into `lives` as a sound log allows: `born` brings a
  new individual with a valid genome, parent and mutation; `trained` and
  `killed` name a born one, once each. KeyError, ValueError or GenomeError
  saying what does not fit; the individual changed (None: another event)."""
  kind, ident = e.get("event"), e.get("id")
  if kind == "born":
    if ident in lives:
      raise ValueError(f"individual {ident} born twice")
    genome = genome_from_json(e["genome"])
    _require(e, "parent", "mutation")
    lives[ident] = with_genome(Individual(ident, born=e), genome)
    return lives[ident]
  if kind not in ("trained", "killed"):
    return None
  ind = lives[ident]
  if getattr(ind, kind) is not None:
    raise ValueError(f"individual {ident} {kind} twice")
  if kind == "killed":
    _require(e, "t")
  setattr(ind, kind, e)
  return ind


def costs_of(trained: dict, names: tuple[str, ...]) -> list[float]:
  """The `names` costs of a `trained` event, in order; ValueError naming
  the first it lacks."""
  costs = trained.get("costs") or {}
  missing = [n for n in names if n not in costs]
  if missing:
    raise ValueError(f"individual {trained.get('id')} has no {missing[0]} "
                     "cost recorded: select on costs only in a new workdir")
  return [float(costs[n]) for n in names]


def checker(costs: tuple[str, ...] = ()):
  """A fold for `events.first_damage` that needs no strategy (so no JAX)
  and refuses what the strategy's replay (history.py) refuses: the
  individuals' lives as `record` checks them, a time that is no number,
  a living individual's `trained` event without a numeric validation
  accuracy or the `costs` a multi-objective run selects on, a `generation`
  without members and fitness, a `population_reset` without its count, a
  `started` whose slots are no number."""
  lives: dict[int, Individual] = {}

  def apply(e: dict) -> None:
    float(e.get("t", 0.0))
    kind = e.get("event")
    ind = record(lives, e)
    if kind == "trained" and ind.killed_t is None:
      float(e["val_accuracy"])
      costs_of(e, costs)
    elif kind == "generation":
      _require(e, "ids", "fitness")
    elif kind == "population_reset":
      _require(e, "at")
    elif kind == "started" and "slots" in e:
      int(e["slots"])
  return apply
