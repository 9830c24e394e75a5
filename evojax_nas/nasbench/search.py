"""Simulated architecture searches on the NAS-Bench-201 table.

Every strategy of the engine runs here unchanged (the same pure `ask`/
`remove`/`tell`), with a table look-up as its evaluator and the benchmark's
simulated training time as its clock. A whole search is one jitted
`lax.while_loop`, and `vmap` runs many seeds at once: thousands of searches
per minute on a CPU.

Protocol (NAS-Bench-201 / NATS-Bench REA script): a random initial
population, then reproduction until the simulated time reaches the budget
(the evaluation that crosses it still counts); the answer is the evaluated
cell with the highest reward (12-epoch validation accuracy), reported with
its 200-epoch test accuracy.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np

from evojax_nas import strategies as strategies_lib
from evojax_nas.fronts import hypervolume, non_dominated
from evojax_nas.genomes import nb201, nb201_codes, strings
from evojax_nas.nasbench.table import Table

# The benchmark's uniform random search: no population, no strategy.
RANDOM_SEARCH = "random_search"
SEARCHES = tuple(sorted(strategies_lib.STRATEGIES)) + (RANDOM_SEARCH,)


@dataclasses.dataclass(frozen=True)
class SearchConfig:
  strategy: str = "aging"
  population_size: int = 10
  sample_size: int = 3
  sample_replacement: str = "auto"  # the paper's: with, for aging
  budget_s: float = 12000.0
  p_mutation: float = 0.8      # genetic only (Genetic CNN's p_M, p_C, q_C)
  q_mutation: float = 0.2      # per edge, ~ Genetic CNN's 1 bit in 20
  p_crossover: float = 0.2
  q_crossover: float = 0.2
  # "accuracy" alone, or followed by costs ("flops", "params"): the
  # steady-state strategies then compare on them (strategies/pareto.py).
  objectives: tuple[str, ...] = ("accuracy",)
  objective_mode: str = "pareto"
  cost_budget: float = 0.0


@dataclasses.dataclass(frozen=True)
class Histories:
  """Per run (rows) and evaluation (columns); `count[r]` evaluations valid."""
  codes: np.ndarray
  reward: np.ndarray
  time: np.ndarray      # cumulative simulated seconds after each evaluation
  count: np.ndarray

  def chosen(self) -> np.ndarray:
    """Code of the best-by-reward cell of each run."""
    valid = np.arange(self.codes.shape[1])[None] < self.count[:, None]
    best = np.argmax(np.where(valid, self.reward, -np.inf), axis=1)
    return self.codes[np.arange(len(best)), best]

  def front(self, table: Table, run: int, cost: str = "flops") -> np.ndarray:
    """Codes of the cells of run `run` that no other evaluated cell beats
    on the search's reward (12-epoch validation) and on `cost`."""
    codes = np.unique(self.codes[run, :self.count[run]])
    points = np.stack([-table.val12[codes], table.costs()[cost][codes]], 1)
    return codes[non_dominated(points)]

  def hypervolumes(self, table: Table, cost: str = "flops") -> np.ndarray:
    """Per run, the hypervolume of its front (`front`) in (200-epoch test
    accuracy, `cost`): the area that the front dominates in the box from
    the reference point (0 % accuracy, the space's largest cost) to (100 %,
    0), as a fraction of that box."""
    costs = table.costs()[cost]
    out = np.empty(len(self.codes))
    for r in range(len(self.codes)):
      f = self.front(table, r, cost)
      points = np.stack([-table.test200[f], costs[f]], 1)
      out[r] = hypervolume(points, (0.0, costs.max())) / (100.0 * costs.max())
    return out

  def best_so_far(self, table: Table, times: np.ndarray) -> np.ndarray:
    """[runs, len(times)] test accuracy of the best-by-reward cell among the
    evaluations finished by each time (NaN before the first one)."""
    out = np.full((len(self.codes), len(times)), np.nan)
    for r in range(len(self.codes)):
      n = self.count[r]
      reward, t = self.reward[r, :n], self.time[r, :n]
      best_idx, best = np.zeros(n, np.int64), 0
      for i in range(n):  # first evaluation reaching the running maximum
        best = i if reward[i] > reward[best] else best
        best_idx[i] = best
      test = table.test200[self.codes[r, :n][best_idx]]
      done = np.searchsorted(t, times, side="right")
      out[r] = np.where(done > 0, test[np.maximum(done - 1, 0)], np.nan)
    return out


def _capacity(cfg: SearchConfig, table: Table) -> int:
  return int(np.ceil(cfg.budget_s / float(table.cost.min()))) + \
      cfg.population_size + 1


def _steady_state_body(strategy, cfg, reward, cost, key, fitness=None):
  """One evaluation of a steady-state search (or random search)."""
  n = cfg.population_size

  def body(carry):
    i, t, pop, codes, rewards, times = carry
    k = jax.random.fold_in(key, i)
    k_ask, k_var = jax.random.split(k)
    if strategy is None:
      child = nb201_codes.random_code(k_var)
    else:
      action = strategy.ask(k_ask, pop)
      initial = i < n
      child = jnp.where(initial, nb201_codes.random_code(k_var),
                        nb201_codes.mutate_code(k_var, codes[action.parent]))
      removed = strategy.remove(pop, action.victim)
      pop = jax.tree.map(lambda a, b: jnp.where(initial, a, b), pop, removed)
      pop, _ = strategy.tell(k, pop, i, (reward if fitness is None
                                         else fitness)[child])
    t = t + cost[child]
    return (i + 1, t, pop, codes.at[i].set(child),
            rewards.at[i].set(reward[child]), times.at[i].set(t))
  return body


def _genetic_body(strategy, cfg, reward, cost, key):
  """One evaluation of the generational genetic algorithm: generation g's
  cells are planned when its first member is due."""
  n = cfg.population_size
  unit = jnp.arange(nb201.NUM_EDGES)

  def body(carry):
    i, t, pop, codes, rewards, times = carry
    k = jax.random.fold_in(key, i)
    gen, j = i // n, i % n

    def plan_generation(_):
      state, _ = strategy.tell(k, pop, jnp.arange(n) + (gen - 1) * n,
                               jax.lax.dynamic_slice_in_dim(
                                   rewards, (gen - 1) * n, n))
      plan = strategy.ask(jax.random.fold_in(k, 1), state)
      parents = nb201_codes.decode(codes[plan.parents])
      children = strings.next_generation(
          jax.random.fold_in(k, 2), plan, parents, cfg.q_mutation,
          cfg.q_crossover, unit, nb201.NUM_EDGES, len(nb201.OPS))
      return state, nb201_codes.encode(children)

    def keep(_):
      return pop, jnp.zeros((n,), jnp.int32)

    # The children of a generation are written ahead into `codes`.
    pop, planned = jax.lax.cond((j == 0) & (gen > 0), plan_generation, keep,
                                None)
    codes = jnp.where((j == 0) & (gen > 0),
                      jax.lax.dynamic_update_slice_in_dim(codes, planned, i, 0),
                      codes)
    child = jnp.where(gen == 0, nb201_codes.random_code(k), codes[i])
    t = t + cost[child]
    return (i + 1, t, pop, codes.at[i].set(child),
            rewards.at[i].set(reward[child]), times.at[i].set(t))
  return body


@functools.partial(jax.jit, static_argnums=(0, 1))
def _run(cfg: SearchConfig, capacity: int, reward, cost, keys, fitness=None):
  if cfg.strategy == RANDOM_SEARCH:
    strategy = None
  else:
    strategy = strategies_lib.make(
        cfg.strategy, cfg.population_size, sample_size=cfg.sample_size,
        sample_replacement=cfg.sample_replacement,
        costs=tuple(cfg.objectives)[1:], objective_mode=cfg.objective_mode,
        cost_budget=cfg.cost_budget,
        genetic={"p_mutation": cfg.p_mutation, "q_mutation": cfg.q_mutation,
                 "p_crossover": cfg.p_crossover,
                 "q_crossover": cfg.q_crossover})
  make_body = (_genetic_body if strategy is not None and strategy.generational
               else _steady_state_body)
  # Room for one generation planned ahead of the budget's end.
  room = capacity + cfg.population_size

  def one(key):
    pop = (strategy.init() if strategy is not None
           else strategies_lib.PopulationState(jnp.zeros(1, jnp.int32),
                                               jnp.zeros(1)))
    init = (jnp.int32(0), jnp.float32(0.0), pop,
            jnp.zeros(room, jnp.int32), jnp.zeros(room, jnp.float32),
            jnp.zeros(room, jnp.float32))
    cond = lambda c: (c[1] < cfg.budget_s) & (c[0] < capacity)
    body = (make_body(strategy, cfg, reward, cost, key)
            if make_body is _genetic_body else
            _steady_state_body(strategy, cfg, reward, cost, key, fitness))
    i, _, _, codes, rewards, times = jax.lax.while_loop(cond, body, init)
    return codes[:capacity], rewards[:capacity], times[:capacity], i

  return jax.vmap(one)(keys)


def run_searches(cfg: SearchConfig, table: Table, seeds) -> Histories:
  """Runs one search per seed (in one vmapped program)."""
  if cfg.strategy not in SEARCHES:
    raise ValueError(f"unknown search {cfg.strategy!r}; valid choices: "
                     f"{list(SEARCHES)}")
  costs = tuple(cfg.objectives)[1:]
  fitness = None
  if costs and cfg.strategy != RANDOM_SEARCH:
    fitness = jnp.asarray(np.stack(
        [table.val12] + [table.costs()[c] for c in costs], axis=1),
                          jnp.float32)
  keys = jax.vmap(jax.random.key)(jnp.asarray(seeds, jnp.uint32))
  capacity = _capacity(cfg, table)
  codes, rewards, times, count = jax.device_get(_run(
      cfg, capacity, jnp.asarray(table.val12), jnp.asarray(table.cost), keys,
      fitness))
  return Histories(codes=np.asarray(codes), reward=np.asarray(rewards),
                   time=np.asarray(times), count=np.asarray(count))
