"""Asynchronous workers on one population store: races, crashes, Ray."""

import json
import multiprocessing
import os
import time

import pytest

from evojax_nas import config as config_lib
from evojax_nas.evolution.invariants import check_events
from evojax_nas.evolution.store import PopulationStore, read_events
from evojax_nas.runs.dispatch import run
from evojax_nas.runs.faults import check, inject_faults


def _reserve_and_kill(root, name, victims, out):
  store = PopulationStore(root, name)
  ids = [store.reserve() for _ in range(20)]
  kills = [v for v in victims if store.kill(v, {"event": "killed", "id": v,
                                                "t": 0.0, "by": name})]
  out.put((name, ids, kills))


def test_store_races_have_exactly_one_winner(tmp_path):
  """Four processes reserve ids and kill the same victims at once: every id
  goes to one process, every victim dies by one hand."""
  root = tmp_path / "population"
  PopulationStore(root, "setup")
  victims = list(range(1000, 1030))
  for v in victims:
    (root / f"{v:08d}").mkdir()
  ctx = multiprocessing.get_context("spawn")
  out = ctx.Queue()
  procs = [ctx.Process(target=_reserve_and_kill,
                       args=(root, f"p{i}", victims, out)) for i in range(4)]
  for p in procs:
    p.start()
  results = [out.get(timeout=120) for _ in procs]
  for p in procs:
    p.join()
  ids = [i for _, got, _ in results for i in got]
  assert len(ids) == len(set(ids)) == 80
  kills = [v for _, _, got in results for v in got]
  assert sorted(kills) == victims


def test_stale_claims_are_taken_back_once(tmp_path):
  a = PopulationStore(tmp_path, "a", claim_timeout_s=0.2)
  ident = a.reserve()
  a.birth(ident, {"event": "born", "id": ident, "t": a.now(), "parent": None})
  b = PopulationStore(tmp_path, "b", claim_timeout_s=0.2)
  c = PopulationStore(tmp_path, "c", claim_timeout_s=0.2)
  rec = b.records()[ident]
  assert rec.pending and not b.stale(rec)  # a's process is alive, fresh claim
  time.sleep(0.3)
  seen_b, seen_c = b.records()[ident], c.records()[ident]
  assert b.stale(seen_b) and c.stale(seen_c)
  assert [b.take_back(seen_b), c.take_back(seen_c)] == [True, False]
  assert b.records()[ident].claim["worker"] == "b"  # not a's any more
  assert b.finish(ident, {"event": "trained", "id": ident, "t": b.now(),
                          "val_accuracy": 0.5})
  assert not a.finish(ident, {"event": "trained", "id": ident, "t": 9.0,
                              "val_accuracy": 0.1})  # the loser is dropped
  kinds = [e["event"] for e in read_events(tmp_path)]
  assert kinds == ["started", "born", "trained"]
  assert read_events(tmp_path)[-1]["val_accuracy"] == 0.5


def _replay_race(store: PopulationStore, steps):
  """Publishes (kind, id, t) steps as the workers would: births and kills
  with the snapshot's time, trainings after them."""
  for kind, ident, t in steps:
    event = {"event": kind, "id": ident, "t": t}
    if kind == "born":
      assert store.reserve() == ident
      store.birth(ident, dict(event, parent=None))
    elif kind == "trained":
      assert store.finish(ident, dict(event, val_accuracy=0.1 * ident))
    else:
      assert store.kill(ident, event)


def test_the_checker_counts_a_replacement_once_and_a_race_as_one_over(
    tmp_path):
  """A replacement's kill and birth share a time, which the store orders
  born first: the checker counts the population after each instant, so a
  replacement while another worker's racing birth is out (4 of 3, the most
  two workers may reach) passes, and one more birth does not."""
  store = PopulationStore(tmp_path, "a")
  first = [("born", i, 0.1 * i) for i in range(3)] + [
      ("trained", i, 1.0 + 0.1 * i) for i in range(3)]
  _replay_race(store, first + [
      ("born", 3, 2.0),                     # b saw 2 alive: no kill
      ("killed", 0, 2.0001), ("born", 4, 2.0001),  # a saw 3: replaces 0
      ("trained", 3, 3.0), ("trained", 4, 3.1),
      ("killed", 1, 4.0)])                  # the end's trim
  found = check_events(read_events(tmp_path), 3, num_workers=2,
                       max_individuals=5)
  assert found["max_population"] == 4 and found["final_population"] == 3
  _replay_race(store, [("born", 5, 5.0), ("born", 6, 5.0), ("trained", 5, 6.0),
                       ("trained", 6, 6.0)])
  with pytest.raises(AssertionError, match="population reached 5 > 4"):
    check_events(read_events(tmp_path), 3, num_workers=2)


def test_claim_of_a_dead_process_is_stale_at_once(tmp_path):
  store = PopulationStore(tmp_path, "a", claim_timeout_s=300)
  ident = store.reserve()
  store.birth(ident, {"event": "born", "id": ident, "t": 0.0, "parent": None})
  claim = tmp_path / f"{ident:08d}" / "claim"
  dead = json.loads(claim.read_text())
  proc = multiprocessing.get_context("spawn").Process(target=time.sleep,
                                                      args=(0,))
  proc.start()
  proc.join()
  dead["pid"] = proc.pid  # a process that has exited
  claim.write_text(json.dumps(dead))
  assert store.stale(store.records()[ident])


@pytest.fixture
def worker_config(tiny_config):
  c = tiny_config
  c.num_workers = 2
  c.max_individuals = 12
  c.workers.heartbeat_s = 1.0
  c.workers.claim_timeout_s = 30.0
  c.workers.gc_grace_s = 2.0
  return c


@pytest.mark.slow
@pytest.mark.parametrize("objectives", [("accuracy",), ("accuracy", "flops")])
def test_workers_evolve_one_population_and_finish_like_the_loop(
    objectives, worker_config, tmp_path):
  wd = tmp_path / "wd"
  worker_config.objectives = objectives
  results = run(worker_config, wd)
  assert results["individuals"] == 12
  found = check(config_lib.validate(worker_config), wd)
  assert found["trained"] == 12 and found["final_population"] == 3
  workers = {e.get("worker") for e in read_events(wd / "population")
             if e["event"] == "trained"}
  assert workers <= {"w0", "w1"} and workers
  logged = [json.loads(l) for l in (wd / "events.jsonl").read_text().splitlines()]
  assert sum(e["event"] == "trained" for e in logged) == 12
  assert [e["event"] for e in logged].count("finished") == 1
  assert logged[-1]["event"] == "finished"
  assert (wd / "model").is_dir() and (wd / "results.json").is_file()
  front = [m["id"] for m in results["pareto_front"]["members"]]
  assert results["pareto_front"]["objectives"] == ["accuracy", "flops"]
  assert results["best"]["id"] in front
  # A run that selects on costs exports its front (the workers kept it).
  exported = sorted(int(p.name) for p in (wd / "models").glob("*"))
  assert exported == (sorted(front) if len(objectives) > 1 else [])
  # Running it again finds the budget spent and only finishes again.
  assert run(worker_config, wd)["individuals"] == 12


def test_workers_refuse_generational_strategies(worker_config, tmp_path):
  worker_config.strategy = "genetic"
  worker_config.search_space = "genetic_cnn"
  with pytest.raises(config_lib.ConfigError, match="num_workers"):
    run(worker_config, tmp_path / "wd")


@pytest.mark.slow
def test_sigkilled_workers_lose_nothing(worker_config, tmp_path):
  """The fault test at small scale: 3 workers, 10 SIGKILLs at random
  moments, each worker restarted."""
  worker_config.num_workers = 3
  worker_config.max_individuals = 40  # outlasts the 10 kills
  report = inject_faults(worker_config, tmp_path / "wd", kills=10,
                         gap_s=(0.3, 2.0), seed=1)
  assert len(report["kills"]) == 10
  found = report["check"]
  assert found["trained"] == found["born"] == 40
  assert found["final_population"] == 3
  assert found["checkpoints_restored"] >= 3
  assert json.loads((tmp_path / "wd" / "faults.json").read_text()) == report


@pytest.mark.slow
def test_sigkilled_ray_workers_lose_nothing(worker_config, tmp_path):
  ray = pytest.importorskip("ray")
  worker_config.runner = "ray"
  worker_config.max_individuals = 60  # outlasts the 10 kills
  ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
           runtime_env={"env_vars": {"PYTHONPATH": os.pathsep.join(
               p for p in (os.environ.get("PYTHONPATH"),
                           os.path.dirname(os.path.dirname(__file__))) if p)}})
  try:
    report = inject_faults(worker_config, tmp_path / "wd", kills=10,
                           gap_s=(0.3, 1.5), seed=2)
  finally:
    ray.shutdown()
  assert len(report["kills"]) == 10, report["kills"]
  found = report["check"]
  assert found["trained"] == found["born"] == 60
  assert found["final_population"] == 3


def test_report_reads_the_store_of_a_run_still_going(tmp_path):
  from evojax_nas.reports.report import read_run
  store = PopulationStore(tmp_path / "population", "a")
  ident = store.reserve()
  store.birth(ident, {"event": "born", "id": ident, "t": 1.0, "parent": None})
  store.finish(ident, {"event": "trained", "id": ident, "t": 2.0,
                       "val_accuracy": 0.25})
  got = read_run(tmp_path)
  assert [e["event"] for e in got.events] == ["started", "born", "trained"]
