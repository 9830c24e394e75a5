"""Selection strategies: pure init/ask/tell over immutable population states."""

from evojax_nas.strategies.tournament import Action, PopulationState, Tournament

STRATEGIES = {
    "tournament": lambda population_size: Tournament(population_size, 2, True),
    "random": lambda population_size: Tournament(population_size, 2, False),
}


def make(name: str, population_size: int):
  """The strategy called `name`; ValueError naming the valid choices."""
  if name not in STRATEGIES:
    raise ValueError(f"unknown strategy {name!r}; valid choices: "
                     f"{sorted(STRATEGIES)}")
  return STRATEGIES[name](population_size)


__all__ = ["Action", "PopulationState", "Tournament", "STRATEGIES", "make"]
