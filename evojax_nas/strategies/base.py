"""The two kinds of selection strategy, one interface each (as in evosax:
the key first, the state passed in and returned, `tell` returns
`(state, metrics)`; nothing is stored in the strategy object).

A steady-state strategy answers `ask` with one parent and one victim and
hears about one individual at a time; a generational one answers with a plan
for the whole next generation and hears about a whole generation.
"""

from __future__ import annotations

import abc
from typing import Any, Sequence

import jax


class SteadyState(abc.ABC):
  """Tournament-like selection over a population that changes one
  individual at a time (the reproduction loop, evolution/loop.py)."""

  generational = False

  @abc.abstractmethod
  def init(self) -> Any:
    """The empty population state."""

  @abc.abstractmethod
  def ask(self, key: jax.Array, state) -> Any:
    """An `Action`: the parent to copy and mutate, the victim to kill."""

  @abc.abstractmethod
  def tell(self, key: jax.Array, state, individual, fitness
           ) -> tuple[Any, dict]:
    """Adds a trained individual; returns the state and metrics."""

  @abc.abstractmethod
  def remove(self, state, individual) -> Any:
    """Takes a dead individual out."""

  @abc.abstractmethod
  def population(self, ids: Sequence[int], fitness: Sequence[float]) -> Any:
    """The state of a population read from elsewhere (the shared store)."""


class Generational(abc.ABC):
  """Selection that replaces the whole population at once (the
  generational loop, evolution/generational.py)."""

  generational = True

  @abc.abstractmethod
  def init(self) -> Any:
    """The empty population state."""

  @abc.abstractmethod
  def ask(self, key: jax.Array, state) -> Any:
    """A `GenerationPlan` for the next generation."""

  @abc.abstractmethod
  def tell(self, key: jax.Array, state, ids, fitness) -> tuple[Any, dict]:
    """The finished generation (ids, fitness) replaces the state."""
