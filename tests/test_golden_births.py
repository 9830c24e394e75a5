"""Golden births: the birth paths tests/test_golden.py does not pin,
recorded before the birth became one function (issue 27), so the move
keeps every choice: section 5's side-by-side and weight recombination,
the other steady-state strategies, selection on costs, four slots, a
population of two (children wait for a full sample), the genetic
algorithm's generations, and a kill that loses its race.

As in test_golden.py, fitness is a fixed function of the genome's
signature. Re-record (only after a deliberate change of the science) with
`EVOJAX_NAS_RECORD_GOLDEN=1 pytest tests/test_golden_births.py`.
"""

import json
import os

import jax
import pytest

from evojax_nas.runs.dispatch import run

from conftest import fake_costs, fake_fitness
from test_golden import GOLDEN, trajectory

CASES = {
    "side_by_side": {"recombination.mode": "side_by_side",
                     "recombination.probability": 0.7},
    "weights": {"recombination.mode": "weights",
                "recombination.probability": 0.7},
    "kill_worst": {"strategy": "kill_worst", "sample_size": 3},
    "random": {"strategy": "random"},
    "pareto_flops": {"objectives": ("accuracy", "flops")},
    "four_slots": {"slots_per_device": 4, "population_size": 8,
                   "max_individuals": 24},
    "population_of_two": {"population_size": 2, "sample_size": 2,
                          "max_individuals": 10},
}


def detailed(workdir) -> dict:
  """The trajectory, with each kill's cause and each birth's generation."""
  events = [json.loads(line) for line in
            (workdir / "events.jsonl").read_text().splitlines()]
  got = trajectory(workdir)
  got["killed_by"] = [[e["id"], e["by"]] for e in events
                      if e["event"] == "killed"]
  got["generation"] = [[e["id"], e.get("generation")] for e in events
                       if e["event"] == "born"]
  return got


def check(name: str, got: dict):
  path = GOLDEN / f"births_{name}.json"
  if os.environ.get("EVOJAX_NAS_RECORD_GOLDEN"):
    path.write_text("{" + ",\n ".join(f"{json.dumps(k)}: {json.dumps(v)}"
                                       for k, v in got.items()) + "}\n")
  assert got == json.loads(path.read_text())


@pytest.mark.parametrize("case", sorted(CASES))
def test_births_make_the_recorded_choices(case, tiny_config,
                                          fitness_from_signature, tmp_path):
  del fitness_from_signature
  c = tiny_config
  c.population_size, c.max_individuals, c.tensorboard = 4, 16, False
  for k, v in CASES[case].items():
    section, _, name = k.rpartition(".")
    setattr(c[section] if section else c, name, v)
  run(c, tmp_path / "wd")
  check(case, detailed(tmp_path / "wd"))


def test_generations_make_the_recorded_choices(tiny_genetic_config,
                                               fitness_from_signature,
                                               tmp_path):
  del fitness_from_signature
  c = tiny_genetic_config
  c.tensorboard = False
  run(c, tmp_path / "wd")
  check("genetic", detailed(tmp_path / "wd"))


# --- kills that lose their race ----------------------------------------------
def _racing_loop(config, workdir, rivals: dict[int, int]):
  """A steady-state loop on the event log whose n-th kill, for each n in
  `rivals`, finds its victim killed by another (simulated) worker, which
  births `rivals[n]` children of its own (negative ids, never trained)."""
  # pylint: disable=g-import-not-at-top
  from evojax_nas.evolution import events as ev
  from evojax_nas.evolution.loop import SteadyState
  from evojax_nas.evolution.population import LogPopulation
  from evojax_nas.genomes import spaces
  from evojax_nas.strategies import make
  strategy = make(config.strategy, config.population_size + 3,
                  sample_size=config.sample_size)
  space = spaces.make(config.search_space, config)

  class Racing(LogPopulation):
    kills, races, other = 0, 0, 0

    def kill(self, ident, event):
      self.kills += 1
      if self.kills - 1 not in rivals or event["reason"] != config.strategy:
        return super().kill(ident, event)
      super().kill(ident, ev.killed(ident, t=self.now(),
                                    reason=config.strategy,
                                    by=self.other - 1))
      for _ in range(rivals[self.kills - 1]):
        self.other -= 1
        self.birth(ev.born(self.other, t=self.now(),
                           genome=self.history.individuals[ident].genome,
                           parent=None, mutation="rival"))
      self.races += 1
      return False

  pop = Racing(ev.EventLog(workdir / "events.jsonl"), strategy)
  loop = SteadyState(config, space=space, population=pop, trainer=None,
                     recycler=None, root_key=jax.random.key(config.seed),
                     slots=1)
  return loop, pop


def test_kills_that_lose_their_race_ask_again(tiny_config, tmp_path):
  """Population 6. Child 6's victim is killed by a rival that births two
  children: it asks again (attempt 1), kills, is still one over the size,
  kills again (attempt 2) and is born. Child 7's rival births none: one
  more draw (attempt 1). Child 10's rival births three: three more kills
  leave too few for a sample and the population refills with an initial
  individual (as does child 11)."""
  c = tiny_config
  c.population_size, c.max_individuals = 6, 100
  loop, pop = _racing_loop(c, tmp_path, rivals={0: 2, 3: 0, 6: 3})
  for _ in range(12):
    child = loop.reproduce(wait=True)
    pop.finish(child.id, {"event": "trained", "id": child.id, "t": pop.now(),
                          "val_accuracy": fake_fitness(child.genome),
                          "costs": fake_costs(child.genome)})
  assert (pop.kills, pop.races) == (10, 3)
  check("kill_race", detailed(tmp_path))
