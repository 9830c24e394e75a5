"""Selection strategies: pure init/ask/tell over immutable population states.

Steady-state strategies (`generational = False`) answer `ask` with one
parent and one victim; the generational genetic algorithm answers with a
plan for the whole next generation.
"""

from evojax_nas.strategies.genetic import (Genetic, GenerationPlan,
                                           roulette_probabilities)
from evojax_nas.strategies.tournament import (KILL, Action, PopulationState,
                                              Tournament)

STRATEGIES = {
    # Real et al. 2017: sample 2, the worse dies, the better reproduces.
    "tournament": lambda n, s, g: Tournament(n, s, select=True, kill="sample_worst"),
    # Real et al. 2018: sample S, the best reproduces, the oldest dies.
    "aging": lambda n, s, g: Tournament(n, s, select=True, kill="oldest"),
    # The non-aging control of 2018: the worst of the population dies.
    "kill_worst": lambda n, s, g: Tournament(n, s, select=True, kill="worst"),
    # Real et al. 2017's control: random parent, random victim.
    "random": lambda n, s, g: Tournament(n, 2, select=False),
    # Xie & Yuille 2017: roulette, stage crossover, bit-flip mutation.
    "genetic": lambda n, s, g: Genetic(n, **g),
}


def make(name: str, population_size: int, *, sample_size: int = 2,
         genetic: dict | None = None):
  """The strategy called `name`; ValueError naming the valid choices."""
  if name not in STRATEGIES:
    raise ValueError(f"unknown strategy {name!r}; valid choices: "
                     f"{sorted(STRATEGIES)}")
  return STRATEGIES[name](population_size, sample_size, dict(genetic or {}))


__all__ = ["Action", "GenerationPlan", "Genetic", "KILL", "PopulationState",
           "STRATEGIES", "Tournament", "make", "roulette_probabilities"]
