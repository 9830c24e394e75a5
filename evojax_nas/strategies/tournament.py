"""Steady-state tournament selection: Large-Scale Evolution, Regularized
Evolution and their controls.

Pure functions over an immutable `PopulationState` with explicit keys: `ask`
samples `sample_size` alive individuals, names the best of the sample as
parent and says who dies; the runner kills the victim (`remove`), trains a
mutated copy of the parent and adds it (`tell`). Who dies is the one
difference between the papers:
  * "sample_worst": the worse of the sample (Real et al. 2017, S = 2);
  * "oldest": the oldest of the population, i.e. aging / regularized
    evolution (Real et al. 2018);
  * "worst": the worst of the population (the non-aging control of 2018).
With `select=False` parent and victim are two random individuals (the 2017
paper's random-search control). Ids grow with birth order, so the oldest
alive individual is the one with the smallest id.

The sample is drawn with replacement (`replace=True`: Real et al. 2018,
Algorithm 1, and the NAS-Bench-201 reference scripts draw each member
uniformly from the population, so one individual can fill several places)
or without (the 2017 paper's pairs of two distinct individuals). With
replacement only a rule whose victim is not the sample's worst (aging,
kill_worst) is defined: a pair of one individual twice has no loser.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from evojax_nas.strategies import base


@struct.dataclass
class PopulationState:
  ids: jnp.ndarray      # int32 [capacity], -1 marks a free slot
  fitness: jnp.ndarray  # float32 [capacity], validation accuracy


@struct.dataclass
class Action:
  parent: jnp.ndarray  # id of the individual to copy and mutate
  victim: jnp.ndarray  # id of the individual to kill


KILL = ("sample_worst", "oldest", "worst")


class Tournament(base.SteadyState):
  """Fixed structure in the constructor; state and keys passed explicitly."""

  def __init__(self, population_size: int, sample_size: int = 2, *,
               select: bool = True, kill: str = "sample_worst",
               replace: bool = False):
    if population_size < 2 or not 2 <= sample_size <= population_size:
      raise ValueError(f"tournament needs population_size >= sample_size >= "
                       f"2, got {population_size} and {sample_size}")
    if kill not in KILL:
      raise ValueError(f"unknown kill rule {kill!r}; valid choices: {KILL}")
    if replace and (kill == "sample_worst" or not select):
      raise ValueError("a sample drawn with replacement needs a victim from "
                       "outside the sample (kill 'oldest' or 'worst')")
    self.population_size = population_size
    self.sample_size = sample_size
    self.select = select
    self.kill = kill
    self.replace = replace

  def init(self) -> PopulationState:
    n = self.population_size
    return PopulationState(ids=jnp.full((n,), -1, jnp.int32),
                           fitness=jnp.zeros((n,), jnp.float32))

  def _sample(self, key: jax.Array, alive: jnp.ndarray) -> jnp.ndarray:
    """`sample_size` slots of alive individuals."""
    if self.replace:  # each member uniform over the alive
      return jax.random.categorical(
          key, jnp.where(alive, 0.0, -jnp.inf), shape=(self.sample_size,))
    scores = jnp.where(alive, jax.random.uniform(key, alive.shape), -jnp.inf)
    return jax.lax.top_k(scores, self.sample_size)[1]  # distinct members

  @staticmethod
  def _oldest(state, alive: jnp.ndarray) -> jnp.ndarray:
    """The slot of the alive individual with the smallest id."""
    return jnp.argmin(jnp.where(alive, state.ids, jnp.iinfo(jnp.int32).max))

  @functools.partial(jax.jit, static_argnums=0)
  def ask(self, key: jax.Array, state: PopulationState) -> Action:
    k_sample, k_order = jax.random.split(key)
    alive = state.ids >= 0
    slots = self._sample(k_sample, alive)
    if self.select:
      fit = state.fitness[slots]
      parent, victim = slots[jnp.argmax(fit)], slots[jnp.argmin(fit)]
      tie = fit.max() == fit.min()  # equal fitness: a random sample member
      order = jax.random.permutation(k_order, slots)
      parent = jnp.where(tie, order[0], parent)
      victim = jnp.where(tie, order[1], victim)
      if self.kill == "oldest":
        victim = self._oldest(state, alive)
      elif self.kill == "worst":
        victim = jnp.argmin(jnp.where(alive, state.fitness, jnp.inf))
    else:
      parent, victim = slots[0], slots[1]
    return Action(parent=state.ids[parent], victim=state.ids[victim])

  def population(self, ids, fitness) -> PopulationState:
    """The state of a population read from elsewhere (the population store
    of asynchronous workers): `ids` with their `fitness`."""
    n = self.population_size
    if len(ids) > n:
      raise ValueError(f"{len(ids)} individuals exceed the capacity {n}")
    pad = n - len(ids)
    return PopulationState(
        ids=jnp.asarray(list(ids) + [-1] * pad, jnp.int32),
        fitness=jnp.asarray(list(fitness) + [0.0] * pad, jnp.float32))

  @functools.partial(jax.jit, static_argnums=0)
  def remove(self, state: PopulationState, individual) -> PopulationState:
    hit = state.ids == individual
    return state.replace(ids=jnp.where(hit, -1, state.ids),
                         fitness=jnp.where(hit, 0.0, state.fitness))

  @functools.partial(jax.jit, static_argnums=0)
  def tell(self, key: jax.Array, state: PopulationState, individual,
           fitness) -> tuple[PopulationState, dict]:
    """Adds a trained individual to the first free slot."""
    del key
    return self._add(state, individual, fitness)

  def _add(self, state, individual, fitness) -> tuple[PopulationState, dict]:
    slot = jnp.argmax(state.ids < 0)
    state = state.replace(ids=state.ids.at[slot].set(individual),
                          fitness=state.fitness.at[slot].set(fitness))
    alive = state.ids >= 0
    metrics = {"size": alive.sum(),
               "best": jnp.max(jnp.where(alive, state.fitness, -jnp.inf)),
               "mean": jnp.sum(jnp.where(alive, state.fitness, 0.0))
                       / jnp.maximum(alive.sum(), 1)}
    return state, metrics
