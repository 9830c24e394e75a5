"""NAS-Bench-201 cells as integer codes, for jitted searches (nb201.py has
the cell itself): a code is an int32 scalar, base 5, first edge least
significant, so a search's population is an array and fitness a lookup.

Mutation follows the Regularized Evolution experiments on this space: one
random edge gets a different random operation.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from evojax_nas.genomes.nb201 import NUM_CELLS, NUM_EDGES, OPS

_POWERS = len(OPS) ** np.arange(NUM_EDGES)


def encode(ops):
  """Code(s) of op-index array(s) [..., 6]."""
  return jnp.sum(jnp.asarray(ops) * _POWERS, axis=-1).astype(jnp.int32)


def decode(code):
  """Op-index array [..., 6] of code(s)."""
  return (jnp.asarray(code)[..., None] // _POWERS) % len(OPS)


def random_code(key: jax.Array) -> jax.Array:
  return jax.random.randint(key, (), 0, NUM_CELLS, jnp.int32)


def mutate_code(key: jax.Array, code) -> jax.Array:
  """One random edge takes a different random operation."""
  k_edge, k_op = jax.random.split(key)
  ops = decode(code)
  edge = jax.random.randint(k_edge, (), 0, NUM_EDGES)
  shift = jax.random.randint(k_op, (), 1, len(OPS))
  return encode(ops.at[edge].set((ops[edge] + shift) % len(OPS)))
