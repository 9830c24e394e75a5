"""The experiment's key streams: every random choice, named.

Each individual has its own key, `fold_in(root, id)`, so a choice never
depends on how many random numbers were drawn before it (a resumed or
recycled run draws the same ones); each use of it folds in a named stream.
The numbers are part of the recorded science: never renumber them.
"""

from __future__ import annotations

import enum

import jax


class Stream(enum.IntEnum):
  SELECT = 0            # strategy.ask: parent and victim
  GENOME = 1            # the initial genome, or the child's mutations
  TRAIN = 2             # initial weights, batch order, augmentation, dropout
  GENERATION = 3        # the genetic algorithm's plan (key of the first id)
  PARTNER = 4           # a second tournament: the recombination partner
  RECOMBINE = 5         # whether this child recombines at all
  MUTATION_WEIGHTS = 6  # perturbing its mutation probabilities


def individual(root: jax.Array, ident: int) -> jax.Array:
  """The key of individual `ident`."""
  return jax.random.fold_in(root, ident)


def stream(key: jax.Array, name: Stream, attempt: int = 0) -> jax.Array:
  """Stream `name` of an individual's key; `attempt` > 0: a fresh draw for
  a repeated try (a worker that lost a race for its victim asks again)."""
  k = jax.random.fold_in(key, int(name))
  return k if attempt == 0 else jax.random.fold_in(k, attempt)
