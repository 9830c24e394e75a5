"""The genetic algorithm of Genetic CNN (Xie & Yuille 2017, section 3.2).

Generational: every generation is built from the previous one by
  * selection: N independent Russian-roulette draws with probability
    proportional to r - r_min (the worst individual is never drawn; all equal
    fitness gives uniform draws);
  * crossover: each pair (2n, 2n+1) of the drawn list is crossed with
    probability p_C (the genome then swaps each stage with probability q_C);
  * mutation: each individual not crossed is mutated with probability p_M
    (the genome then flips each bit with probability q_M).
An individual left unchanged is evaluated again, and its fitness is the mean
over all its evaluations (section 3.2.4). `ask` returns the plan as arrays;
the genome-specific operators (`genomes.strings`) apply it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from evojax_nas.strategies import base
from evojax_nas.strategies.tournament import PopulationState


@struct.dataclass
class GenerationPlan:
  parents: jnp.ndarray    # int32 [N]: ids drawn by the roulette, in order
  crossover: jnp.ndarray  # bool [N]: slot n is crossed with its pair partner
  mutate: jnp.ndarray     # bool [N]: slot n (not crossed) is mutated


def roulette_probabilities(fitness: jnp.ndarray) -> jnp.ndarray:
  """P(draw n) proportional to r_n - min r; uniform if all are equal."""
  excess = fitness - fitness.min()
  total = excess.sum()
  n = fitness.shape[0]
  return jnp.where(total > 0, excess / jnp.where(total > 0, total, 1.0),
                   jnp.full((n,), 1.0 / n))


class Genetic(base.Generational):
  """Fixed structure (N, p_M, q_M, p_C, q_C) in the constructor."""

  def __init__(self, population_size: int, p_mutation: float = 0.8,
               q_mutation: float = 0.05, p_crossover: float = 0.2,
               q_crossover: float = 0.2):
    if population_size < 2:
      raise ValueError(f"genetic needs population_size >= 2, got "
                       f"{population_size}")
    for name, p in (("p_mutation", p_mutation), ("q_mutation", q_mutation),
                    ("p_crossover", p_crossover), ("q_crossover", q_crossover)):
      if not 0.0 <= p <= 1.0:
        raise ValueError(f"{name} must be a probability, got {p}")
    self.population_size = population_size
    self.p_mutation, self.q_mutation = p_mutation, q_mutation
    self.p_crossover, self.q_crossover = p_crossover, q_crossover

  def init(self) -> PopulationState:
    n = self.population_size
    return PopulationState(ids=jnp.full((n,), -1, jnp.int32),
                           fitness=jnp.zeros((n,), jnp.float32))

  @functools.partial(jax.jit, static_argnums=0)
  def ask(self, key: jax.Array, state: PopulationState) -> GenerationPlan:
    n = self.population_size
    k_sel, k_cross, k_mut = jax.random.split(key, 3)
    slots = jax.random.choice(k_sel, n, (n,),
                              p=roulette_probabilities(state.fitness))
    pair = jax.random.bernoulli(k_cross, self.p_crossover, (n // 2,))
    crossover = jnp.zeros((n,), bool).at[:2 * (n // 2)].set(jnp.repeat(pair, 2))
    mutate = ~crossover & jax.random.bernoulli(k_mut, self.p_mutation, (n,))
    return GenerationPlan(parents=state.ids[slots], crossover=crossover,
                          mutate=mutate)

  @functools.partial(jax.jit, static_argnums=0)
  def tell(self, key: jax.Array, state: PopulationState, ids, fitness
           ) -> tuple[PopulationState, dict]:
    """The whole generation (ids [N], fitness [N]) replaces the previous."""
    del key, state
    state = PopulationState(ids=jnp.asarray(ids, jnp.int32),
                            fitness=jnp.asarray(fitness, jnp.float32))
    f = state.fitness
    return state, {"size": f.shape[0], "best": f.max(), "mean": f.mean()}
