"""Multi-objective steady-state selection: accuracy against costs.

The tournament, aging and kill-worst rules of tournament.py, with the sample
compared on several objectives instead of validation accuracy alone:
  * "pareto": by Pareto rank in the alive population, then by crowding
    distance within the rank (NSGA-II's crowded comparison, Deb et al. 2002,
    "A fast and elitist multiobjective genetic algorithm"), as multi-
    objective regularized evolution does (Syne Tune's MORegularizedEvolution);
  * "constrained": by accuracy among those whose first cost is within
    `budget`; a violator loses to any feasible individual, and violators are
    ranked by their violation (Deb's constrained tournament, 2000).
Fitness is a vector `(accuracy, cost_1, ..., cost_k)`: accuracy is
maximised, costs minimised. Ties left after both keys go to a random member,
so a run is still a pure function of its keys.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
from flax import struct

from evojax_nas.strategies.tournament import Action, Tournament

MODES = ("pareto", "constrained")


@struct.dataclass
class ObjectiveState:
  ids: jnp.ndarray      # int32 [capacity], -1 marks a free slot
  fitness: jnp.ndarray  # float32 [capacity], validation accuracy
  costs: jnp.ndarray    # float32 [capacity, k], minimised


def pareto_ranks(objectives: jnp.ndarray, alive: jnp.ndarray) -> jnp.ndarray:
  """Non-dominated sorting of `objectives` [n, m] (all minimised): 0 for
  the first front, 1 for the next...; dead slots get n."""
  n = objectives.shape[0]
  le = jnp.all(objectives[:, None] <= objectives[None], axis=-1)
  lt = jnp.any(objectives[:, None] < objectives[None], axis=-1)
  dominates = le & lt & alive[:, None] & alive[None]  # [i, j]: i dominates j

  def peel(r, carry):
    rank, left = carry
    front = left & ~jnp.any(dominates & left[:, None], axis=0)
    return jnp.where(front, r, rank), left & ~front

  rank, _ = jax.lax.fori_loop(0, n, peel,
                              (jnp.full((n,), n, jnp.int32), alive))
  return rank


def crowding_distance(objectives: jnp.ndarray, rank: jnp.ndarray
                      ) -> jnp.ndarray:
  """NSGA-II's crowding distance of each individual within its front: the
  sum over objectives of the gap between its two neighbours, normalised by
  the front's range; a front's extremes get infinity."""
  n, m = objectives.shape
  same = rank[:, None] == rank[None]
  distance = jnp.zeros((n,), jnp.float32)
  for k in range(m):
    v = objectives[:, k]
    order = jnp.lexsort((jnp.arange(n), v, rank))
    sv, sr = v[order], rank[order]
    span = (jnp.max(jnp.where(same, v[None], -jnp.inf), axis=1)
            - jnp.min(jnp.where(same, v[None], jnp.inf), axis=1))[order]
    inner = (jnp.concatenate([jnp.array([False]), sr[1:] == sr[:-1]])
             & jnp.concatenate([sr[:-1] == sr[1:], jnp.array([False])]))
    gap = (jnp.roll(sv, -1) - jnp.roll(sv, 1)) / jnp.where(span > 0, span, 1.0)
    distance = distance.at[order].add(jnp.where(inner, gap, jnp.inf))
  return distance


class MultiObjectiveTournament(Tournament):
  """`Tournament` whose comparisons use accuracy and the named `costs`
  (labels only: the caller puts their values in the fitness vector)."""

  def __init__(self, population_size: int, sample_size: int = 2, *,
               costs: tuple[str, ...] = ("flops",), mode: str = "pareto",
               budget: float = 0.0, **kwargs):
    super().__init__(population_size, sample_size, **kwargs)
    if mode not in MODES:
      raise ValueError(f"unknown multi-objective mode {mode!r}; valid "
                       f"choices: {list(MODES)}")
    if not costs:
      raise ValueError("multi-objective selection needs at least one cost")
    if mode == "constrained" and not budget > 0:
      raise ValueError(f"constrained selection needs a cost budget > 0, got "
                       f"{budget}")
    if not self.select:
      raise ValueError("the random control has no comparison to make "
                       "multi-objective")
    self.cost_names = tuple(costs)  # labels of fitness[1:], in order
    self.num_costs = len(self.cost_names)
    self.mode = mode
    self.budget = budget

  def init(self) -> ObjectiveState:
    n = self.population_size
    return ObjectiveState(ids=jnp.full((n,), -1, jnp.int32),
                          fitness=jnp.zeros((n,), jnp.float32),
                          costs=jnp.zeros((n, self.num_costs), jnp.float32))

  def sort_keys(self, state: ObjectiveState):
    """(primary, secondary) per slot: smaller is better on both."""
    alive = state.ids >= 0
    if self.mode == "constrained":
      violation = jnp.maximum(state.costs[:, 0] - self.budget, 0.0) / self.budget
      return violation, -state.fitness
    objectives = jnp.concatenate([-state.fitness[:, None], state.costs], 1)
    rank = pareto_ranks(objectives, alive)
    return rank.astype(jnp.float32), -crowding_distance(objectives, rank)

  @functools.partial(jax.jit, static_argnums=0)
  def ask(self, key: jax.Array, state: ObjectiveState) -> Action:
    k_sample, k_tie, k_tie_all = jax.random.split(key, 3)
    alive = state.ids >= 0
    slots = self._sample(k_sample, alive)
    primary, secondary = self.sort_keys(state)
    tie = jax.random.uniform(k_tie, slots.shape)
    order = jnp.lexsort((tie, secondary[slots], primary[slots]))
    parent, victim = slots[order[0]], slots[order[-1]]
    if self.kill == "oldest":
      victim = self._oldest(state, alive)
    elif self.kill == "worst":  # the last of the alive, dead slots first
      tie_all = jax.random.uniform(k_tie_all, alive.shape)
      everyone = jnp.lexsort((tie_all, jnp.where(alive, secondary, -jnp.inf),
                              jnp.where(alive, primary, -jnp.inf)))
      victim = everyone[-1]
    return Action(parent=state.ids[parent], victim=state.ids[victim])

  def population(self, ids, fitness) -> ObjectiveState:
    """`fitness`: one (accuracy, cost_1, ..., cost_k) per id."""
    n, k = self.population_size, self.num_costs
    if len(ids) > n:
      raise ValueError(f"{len(ids)} individuals exceed the capacity {n}")
    pad = n - len(ids)
    rows = jnp.asarray([list(f) for f in fitness] + [[0.0] * (k + 1)] * pad,
                       jnp.float32).reshape(n, k + 1)
    return ObjectiveState(ids=jnp.asarray(list(ids) + [-1] * pad, jnp.int32),
                          fitness=rows[:, 0], costs=rows[:, 1:])

  # `remove` is the tournament's: a free slot's costs are never read (ranks
  # and samples see the alive only) and `tell` overwrites them.

  @functools.partial(jax.jit, static_argnums=0)
  def tell(self, key: jax.Array, state: ObjectiveState, individual,
           fitness) -> tuple[ObjectiveState, dict]:
    """Adds a trained individual; `fitness` = (accuracy, costs...)."""
    del key
    fitness = jnp.asarray(fitness, jnp.float32)
    slot = jnp.argmax(state.ids < 0)
    state = state.replace(costs=state.costs.at[slot].set(fitness[1:]))
    return self._add(state, individual, fitness[0])
