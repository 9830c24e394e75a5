"""Multi-objective selection: Pareto ranks, crowding, the constrained mode,
hypervolume, and the strategies in the loop (deterministic, resumable)."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evojax_nas import config as config_lib
from evojax_nas import strategies
from evojax_nas.runs.dispatch import run

# (accuracy, cost): A..E on the first front, F, G on the second, H third.
POINTS = {"A": (0.9, 10.0), "B": (0.8, 5.0), "C": (0.7, 1.0),
          "D": (0.6, 0.5), "E": (0.95, 40.0),
          "F": (0.75, 6.0), "G": (0.85, 12.0), "H": (0.7, 7.0)}


def objectives(names):
  return jnp.array([[-POINTS[n][0], POINTS[n][1]] for n in names])


def test_pareto_ranks_peel_fronts_and_skip_dead_slots():
  names = list(POINTS)
  alive = jnp.ones(len(names) + 1, bool).at[-1].set(False)
  f = jnp.concatenate([objectives(names), jnp.zeros((1, 2))])  # dead: (0, 0)
  rank = strategies.pareto_ranks(f, alive)
  assert dict(zip(names, rank.tolist())) == {
      "A": 0, "B": 0, "C": 0, "D": 0, "E": 0, "F": 1, "G": 1, "H": 2}
  assert int(rank[-1]) == len(alive)  # a dead slot dominates nobody


def test_crowding_distance_as_nsga2():
  names = ["A", "B", "C", "D", "E"]  # one front
  f = objectives(names)
  d = strategies.crowding_distance(f, jnp.zeros(5, jnp.int32))
  acc_span, cost_span = 0.95 - 0.6, 40.0 - 0.5
  expected = {  # neighbours along accuracy (and the reverse along cost)
      "A": (0.95 - 0.8) / acc_span + (40.0 - 5.0) / cost_span,
      "B": (0.9 - 0.7) / acc_span + (10.0 - 1.0) / cost_span,
      "C": (0.8 - 0.6) / acc_span + (5.0 - 0.5) / cost_span,
      "D": math.inf, "E": math.inf}
  for n, v in zip(names, d.tolist()):
    assert v == pytest.approx(expected[n], rel=1e-5), n


def test_non_dominated_and_hypervolume_by_hand():
  pts = np.array([[1.0, 4.0], [2.0, 2.0], [3.0, 1.0], [3.0, 3.0],
                  [2.0, 2.0]])
  assert strategies.non_dominated(pts).tolist() == [0, 1, 2, 4]
  # Staircase to the reference (4, 5): 1×1 + 1×3 + 1×4.
  assert strategies.hypervolume(pts, (4.0, 5.0)) == pytest.approx(8.0)
  assert strategies.hypervolume(pts, (1.0, 5.0)) == 0.0  # all beyond it
  assert strategies.hypervolume(np.zeros((0, 2)), (1.0, 1.0)) == 0.0


def test_non_dominated_matches_the_definition_with_ties():
  rng = np.random.default_rng(0)
  for m in (2, 3):
    pts = rng.integers(0, 6, (300, m)).astype(float)  # many ties, duplicates
    dominated = [any(np.all(q <= p) and np.any(q < p) for q in pts)
                 for p in pts]
    assert strategies.non_dominated(pts).tolist() == [
        i for i, d in enumerate(dominated) if not d]
  assert strategies.non_dominated([]).tolist() == []


def whole_sample(name, names, **kw):
  """A strategy whose sample is the whole population (without
  replacement), and the population state of `names`."""
  s = strategies.make(name, len(names), sample_size=len(names),
                      sample_replacement="without", costs=("flops",), **kw)
  return s, s.population(list(range(len(names))),
                         [POINTS[n] for n in names])


def test_pareto_tournament_picks_a_front_extreme_and_kills_the_last_rank():
  names = list(POINTS)
  s, state = whole_sample("tournament", names)
  for seed in range(20):
    a = s.ask(jax.random.key(seed), state)
    # Parent: the first front's infinitely crowded extremes D and E.
    assert names[int(a.parent)] in ("D", "E")
    assert names[int(a.victim)] == "H"  # the third front


def test_constrained_mode_prefers_the_feasible_then_the_least_violation():
  names = list(POINTS)
  s, state = whole_sample("kill_worst", names, objective_mode="constrained",
                          cost_budget=5.0)
  primary, secondary = s.sort_keys(state)
  order = [names[i] for i in np.lexsort((np.asarray(secondary),
                                         np.asarray(primary)))]
  # Feasible (cost <= 5) by accuracy, then violators by violation.
  assert order == ["B", "C", "D", "F", "H", "A", "G", "E"]
  a = s.ask(jax.random.key(0), state)
  assert (names[int(a.parent)], names[int(a.victim)]) == ("B", "E")


@pytest.mark.parametrize("name, kw, error", [
    ("random", {}, "no multi-objective variant"),
    ("genetic", {}, "no multi-objective variant"),
    ("aging", {"objective_mode": "knapsack"}, "valid choices"),
    ("aging", {"objective_mode": "constrained"}, "budget > 0"),
])
def test_multi_objective_registry_errors(name, kw, error):
  with pytest.raises(ValueError, match=error):
    strategies.make(name, 5, sample_size=2, costs=("flops",), **kw)


@pytest.mark.parametrize("objectives", [("flops",), ("accuracy", "speed"),
                                        ("accuracy", "flops", "flops")])
def test_config_refuses_bad_objectives(objectives):
  c = config_lib.default_config()
  c.objectives = objectives
  with pytest.raises(config_lib.ConfigError, match="objectives must be"):
    config_lib.validate(c)


def events(workdir):
  return [json.loads(l) for l in (workdir / "events.jsonl").open()]


def choices(workdir):
  return [(e["event"], e["id"], e.get("parent"), e.get("signature"))
          for e in events(workdir) if e["event"] in ("born", "killed")]


@pytest.mark.parametrize("strategy, mode", [
    ("aging", "pareto"), ("tournament", "pareto"),
    ("kill_worst", "constrained")])
def test_multi_objective_runs_are_deterministic(
    strategy, mode, tiny_config, fitness_from_signature, tmp_path):
  del fitness_from_signature
  c = tiny_config
  c.strategy, c.population_size, c.sample_size = strategy, 4, 3
  c.objectives, c.objective_mode = ("accuracy", "flops", "params"), mode
  c.cost_budget = 50_000.0
  c.tensorboard = False
  c.max_individuals = 20
  run(c, tmp_path / "a")
  run(c, tmp_path / "b")
  assert choices(tmp_path / "a") == choices(tmp_path / "b")
  assert len(choices(tmp_path / "a")) == 20 + 16  # births, kills


@pytest.mark.slow
def test_a_pareto_run_resumes_exactly_and_answers_with_its_front(
    tiny_config, tmp_path):
  """Real training: an interrupted run makes the uninterrupted run's
  choices; results.json lists the front with test accuracies, each member
  exported and loadable by id."""
  c = tiny_config
  c.strategy, c.population_size, c.sample_size = "aging", 4, 3
  c.objectives = ("accuracy", "flops", "params")
  c.tensorboard, c.max_individuals = False, 12
  # One child at a time: a run that stops at a budget then resumes makes
  # the same births (with two slots, a child born ahead sees one result
  # fewer than the one a resumed run births after the stop).
  c.slots_per_device, c.train.data_parallel = 1, True  # S = 1
  results = run(c, tmp_path / "whole")
  c.max_individuals = 7
  run(c, tmp_path / "resumed")
  c.max_individuals = 12
  run(c, tmp_path / "resumed")
  assert choices(tmp_path / "resumed") == choices(tmp_path / "whole")

  trained = {e["id"]: e for e in events(tmp_path / "whole")
             if e["event"] == "trained"}
  front = results["pareto_front"]
  assert front["objectives"] == ["accuracy", "flops", "params"]
  ids = [m["id"] for m in front["members"]]
  assert ids  # the most accurate is always on the front
  assert max(trained.values(), key=lambda e: (e["val_accuracy"], -e["id"])
             )["id"] in ids
  points = {i: (-e["val_accuracy"], e["costs"]["flops"], e["costs"]["params"])
            for i, e in trained.items()}
  for i in trained:  # on the front exactly when nobody dominates it
    dominated = any(all(a <= b for a, b in zip(points[j], points[i]))
                    and points[j] != points[i] for j in trained)
    assert (i in ids) == (not dominated), i
  from evojax_nas import load_model
  from evojax_nas.train import data
  ds = data.load("cifar10", c.data.dir, c.data.cache_dir, 100)
  for m in front["members"]:
    assert m["costs"] == trained[m["id"]]["costs"]
    model = load_model(tmp_path / "whole", individual=m["id"])
    acc = float(np.mean(model.predict(ds.test_images) == ds.test_labels))
    assert acc == pytest.approx(m["test_accuracy"], abs=1e-6)
  kept = {int(p.name) for p in (tmp_path / "whole" / "checkpoints").iterdir()
          if p.name.isdigit()}
  assert set(ids) <= kept  # the front's checkpoints were never collected
  not_exported = min(set(trained) - set(ids) - kept)
  with pytest.raises(FileNotFoundError, match="was neither exported nor kept"):
    load_model(tmp_path / "whole", individual=not_exported)


def test_selecting_on_costs_changes_the_choices(tiny_config,
                                                 fitness_from_signature,
                                                 tmp_path):
  del fitness_from_signature
  c = tiny_config
  c.strategy, c.population_size, c.sample_size = "aging", 4, 3
  c.tensorboard, c.max_individuals = False, 20
  run(c, tmp_path / "single")
  c.objectives = ("accuracy", "flops")
  run(c, tmp_path / "multi")
  assert choices(tmp_path / "single") != choices(tmp_path / "multi")


def test_the_report_draws_the_front_and_each_members_lineage(
    tiny_config, fitness_from_signature, tmp_path):
  del fitness_from_signature
  from evojax_nas.reports import report
  c = tiny_config
  c.strategy, c.population_size, c.sample_size = "aging", 4, 3
  c.objectives, c.tensorboard, c.max_individuals = ("accuracy", "flops"), \
      False, 16
  run(c, tmp_path / "wd")
  r = report.read_run(tmp_path / "wd")
  front = report.pareto_front(r, "flops")
  page = report.build([tmp_path / "wd"]).read_text()
  assert "Pareto front: accuracy against FLOPs per image" in page
  assert (tmp_path / "wd" / "report" / "pareto_front.png").stat().st_size
  for e in front:
    assert f"lineage of {e['id']}</summary>" in page
  flops = [e["costs"]["flops"] for e in front]
  accuracies = [e["val_accuracy"] for e in front]
  assert flops == sorted(flops) and accuracies == sorted(accuracies)
  early = report.pareto_front(r, "flops", until=r.trained[3]["t"])
  assert {e["id"] for e in early} <= {e["id"] for e in r.trained[:4]}
