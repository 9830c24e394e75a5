"""Variation of fixed-length strings (Genetic CNN bits, NAS-Bench-201 ops).

A string is an int array of genes over an alphabet of `alphabet` symbols.
Mutation changes each gene independently with probability q to a different
symbol (a bit flip when the alphabet is binary). Crossover swaps whole units
(Genetic CNN's stages: `unit[i]` names gene i's unit) between two strings,
each unit with probability q, so the structure inside a unit survives.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp


def mutate(key: jax.Array, genes, rate, alphabet: int = 2):
  k_which, k_symbol = jax.random.split(key)
  genes = jnp.asarray(genes)
  which = jax.random.bernoulli(k_which, rate, genes.shape)
  shift = jax.random.randint(k_symbol, genes.shape, 1, alphabet)
  return jnp.where(which, (genes + shift) % alphabet, genes)


def crossover(key: jax.Array, a, b, rate, unit, num_units: int):
  """The two children of parents `a`, `b` (same shape as `unit`)."""
  swap = jax.random.bernoulli(key, rate, (num_units,))[jnp.asarray(unit)]
  a, b = jnp.asarray(a), jnp.asarray(b)
  return jnp.where(swap, b, a), jnp.where(swap, a, b)


def next_generation(key: jax.Array, plan, parent_genes, q_mutation,
                    q_crossover, unit, num_units: int, alphabet: int = 2):
  """Applies a `GenerationPlan` to the parents' strings [N, L]: children
  [N, L] (pairs (2n, 2n+1) crossed where planned, others mutated where
  planned, the rest copies)."""
  parent_genes = jnp.asarray(parent_genes)
  n = parent_genes.shape[0]
  k_cross, k_mut = jax.random.split(key)
  even, odd = parent_genes[0:n - n % 2:2], parent_genes[1:n:2][:n // 2]
  ca, cb = jax.vmap(lambda k, x, y: crossover(k, x, y, q_crossover, unit,
                                              num_units))(
      jax.random.split(k_cross, n // 2), even, odd)
  crossed = parent_genes.at[0:2 * (n // 2):2].set(ca).at[1:2 * (n // 2):2].set(cb)
  mutated = jax.vmap(lambda k, g: mutate(k, g, q_mutation, alphabet))(
      jax.random.split(k_mut, n), parent_genes)
  return jnp.where(plan.crossover[:, None], crossed,
                   jnp.where(plan.mutate[:, None], mutated, parent_genes))
