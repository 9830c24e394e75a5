"""Selection strategies: pure init/ask/tell over immutable population states.

Steady-state strategies (`generational = False`) answer `ask` with one
parent and one victim; the generational genetic algorithm answers with a
plan for the whole next generation.
"""

from evojax_nas.fronts import hypervolume, non_dominated
from evojax_nas.strategies.genetic import (Genetic, GenerationPlan,
                                           roulette_probabilities)
from evojax_nas.strategies.pareto import (MODES as OBJECTIVE_MODES,
                                          MultiObjectiveTournament,
                                          ObjectiveState, crowding_distance,
                                          pareto_ranks)
from evojax_nas.strategies.tournament import (KILL, Action, PopulationState,
                                              Tournament)

# name -> (population size, sample size, genetic options, sample drawn with
# replacement) -> strategy.
STRATEGIES = {
    # Real et al. 2017: sample 2, the worse dies, the better reproduces.
    "tournament": lambda n, s, g, r: Tournament(n, s, select=True,
                                                kill="sample_worst"),
    # Real et al. 2018: sample S, the best reproduces, the oldest dies.
    "aging": lambda n, s, g, r: Tournament(n, s, select=True, kill="oldest",
                                           replace=r),
    # The non-aging control of 2018: the worst of the population dies.
    "kill_worst": lambda n, s, g, r: Tournament(n, s, select=True,
                                                kill="worst", replace=r),
    # Real et al. 2017's control: random parent, random victim.
    "random": lambda n, s, g, r: Tournament(n, 2, select=False),
    # Xie & Yuille 2017: roulette, stage crossover, bit-flip mutation.
    "genetic": lambda n, s, g, r: Genetic(n, **g),
}
# The papers' samples: with replacement in Regularized Evolution's
# Algorithm 1 (aging and its kill_worst control), two distinct individuals
# in Large-Scale Evolution's tournament.
SAMPLE_REPLACEMENT = ("auto", "with", "without")
# The strategies whose sample can be drawn with replacement (their victim is
# not the sample's worst); "auto" draws theirs so.
WITH_REPLACEMENT = ("aging", "kill_worst")
# The strategies that compare individuals, hence can compare on costs too.
MULTI_OBJECTIVE = ("tournament", "aging", "kill_worst")
_KILL = {"tournament": "sample_worst", "aging": "oldest", "kill_worst": "worst"}


def draws_with_replacement(name: str, sample_replacement: str) -> bool:
  """Whether strategy `name` draws its sample with replacement."""
  if sample_replacement == "auto":
    return name in WITH_REPLACEMENT
  return sample_replacement == "with"


def make(name: str, population_size: int, *, sample_size: int = 2,
         genetic: dict | None = None, sample_replacement: str = "auto",
         costs: tuple[str, ...] = (), objective_mode: str = "pareto",
         cost_budget: float = 0.0):
  """The strategy called `name`; ValueError naming the valid choices.
  `sample_replacement`: "auto" (the paper's), "with" or "without". With
  `costs` (names of minimised objectives beside accuracy) the comparison is
  multi-objective (`objective_mode` "pareto" or "constrained", pareto.py)."""
  if name not in STRATEGIES:
    raise ValueError(f"unknown strategy {name!r}; valid choices: "
                     f"{sorted(STRATEGIES)}")
  if sample_replacement not in SAMPLE_REPLACEMENT:
    raise ValueError(f"unknown sample_replacement {sample_replacement!r}; "
                     f"valid choices: {list(SAMPLE_REPLACEMENT)}")
  if sample_replacement == "with" and name not in WITH_REPLACEMENT:
    raise ValueError(f"sample_replacement='with' applies to "
                     f"{list(WITH_REPLACEMENT)} only, not to strategy "
                     f"{name!r}: its victim is the sample's worst")
  if costs:
    if name not in MULTI_OBJECTIVE:
      raise ValueError(f"strategy {name!r} has no multi-objective variant; "
                       f"valid choices: {list(MULTI_OBJECTIVE)}")
    return MultiObjectiveTournament(
        population_size, sample_size, costs=tuple(costs), mode=objective_mode,
        budget=cost_budget, select=True, kill=_KILL[name],
        replace=draws_with_replacement(name, sample_replacement))
  return STRATEGIES[name](population_size, sample_size, dict(genetic or {}),
                          draws_with_replacement(name, sample_replacement))


def from_config(config):
  """The strategy an experiment's config (evojax_nas/config.py) names.
  Slots of its state: the population size, plus one per worker
  (asynchronous births may overshoot the size by one each for a moment)."""
  return make(config.strategy, config.population_size + config.num_workers,
              sample_size=config.sample_size, genetic=dict(config.genetic),
              sample_replacement=config.sample_replacement,
              costs=tuple(config.objectives)[1:],
              objective_mode=config.objective_mode,
              cost_budget=config.cost_budget)


__all__ = ["Action", "GenerationPlan", "Genetic", "KILL", "MULTI_OBJECTIVE",
           "MultiObjectiveTournament", "OBJECTIVE_MODES", "ObjectiveState",
           "PopulationState", "SAMPLE_REPLACEMENT", "STRATEGIES",
           "Tournament", "WITH_REPLACEMENT", "crowding_distance",
           "draws_with_replacement", "from_config", "hypervolume", "make",
           "non_dominated", "pareto_ranks", "roulette_probabilities"]
