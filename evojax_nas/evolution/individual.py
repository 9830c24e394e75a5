"""One individual, modelled once: its `born`, `trained` and `killed` events.

The log's replay (history.py), the shared store's records (store.py: a
`Record` is an Individual plus its claim) and the report
(reports/report.py) all hold an individual as this. The module loads no
JAX; the genome is parsed from the `born` event on first use (that loads
the genomes, hence JAX), or handed over parsed (`with_genome`).
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any


@dataclasses.dataclass
class Individual:
  id: int
  born: dict[str, Any] | None = None     # the `born` event (None: reserved)
  trained: dict[str, Any] | None = None  # the `trained` event
  killed: dict[str, Any] | None = None   # the `killed` event

  @functools.cached_property
  def genome(self) -> Any:
    """The genome of the `born` event (set it to hand one over parsed)."""
    # pylint: disable-next=import-outside-toplevel
    from evojax_nas.genomes.spaces import genome_from_json
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
