"""`evojax_nas sweep`: the plan of a grid × seeds, running it (each
experiment resumable in its own folder), and the study's report."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import write_cli_config

from evojax_nas.config import ConfigError
from evojax_nas.runs import sweep
from evojax_nas.evolution.invariants import check_events
from evojax_nas.workdir import read_sweep_plan

ROOT = Path(__file__).resolve().parents[1]


def test_grid_values_are_literals_or_strings():
  assert sweep.parse_grid("population_size=2,10,50") == (
      "population_size", [2, 10, 50])
  assert sweep.parse_grid("escape.reset_population_at=(),(30,)") == (
      "escape.reset_population_at", [(), (30,)])
  assert sweep.parse_grid("escape.mutation_rate_schedule='',20-30:5") == (
      "escape.mutation_rate_schedule", ["", "20-30:5"])
  assert sweep.parse_grid("strategy=aging,random") == (
      "strategy", ["aging", "random"])
  assert sweep.parse_grid('x="1-2:3,4-5:6",7-8:9')[1] == ["1-2:3,4-5:6",
                                                           "7-8:9"]
  with pytest.raises(ConfigError, match="repeats a value"):
    sweep.parse_grid("population_size=2,2")
  with pytest.raises(ConfigError, match="KEY=V1,V2"):
    sweep.parse_grid("population_size")


def test_plan_is_the_product_of_the_grids_times_the_seeds(tmp_path,
                                                          cifar10_dir):
  cfg = write_cli_config(tmp_path / "c.py", cifar10_dir, tmp_path / "cache")
  plan = sweep.plan(str(cfg), ["population_size=2,4",
                               "strategy=tournament,aging"], 2,
                    overrides=["seed=10"])
  rows = [(p["workdir"], p["config"].population_size, p["config"].strategy,
           p["config"].seed) for p in plan["points"]]
  assert len(rows) == 8
  assert rows[:2] == [("population_size=2,strategy=tournament/seed10", 2,
                       "tournament", 10),
                      ("population_size=2,strategy=tournament/seed11", 2,
                       "tournament", 11)]
  assert rows[-1] == ("population_size=4,strategy=aging/seed11", 4, "aging",
                      11)
  for bad, match in ((["populaton_size=2,4"], "unknown config key"),
                     (["seed=1,2"], "--seeds"),
                     (["sample_size=2,9"], "grid point sample_size=9"),
                     ([], "at least one --grid")):
    with pytest.raises(ConfigError, match=match):
      sweep.plan(str(cfg), bad, 1)


def _sweep(argv, cwd=ROOT):
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  return subprocess.run([sys.executable, "-m", "evojax_nas", "sweep", *argv],
                        capture_output=True, text=True, cwd=cwd, env=env,
                        timeout=600, check=False)


@pytest.mark.slow
def test_a_sweep_runs_resumes_and_is_reported(tmp_path, cifar10_dir):
  cfg = write_cli_config(tmp_path / "c.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=4, steps_per_individual=8,
                         tensorboard=False)
  root = tmp_path / "study"
  argv = ["--config", str(cfg), "--grid", "population_size=2,3", "--seeds",
          "1", "--workdir", str(root), "--config.train.chunk_steps=4"]
  done = _sweep(argv)
  assert done.returncode == 0, done.stderr[-2000:]
  assert "2 of 2 experiments finished" in done.stdout
  for name in ("population_size=2", "population_size=3"):
    w = root / name / "seed0"
    results = json.loads((w / "results.json").read_text())
    config = json.loads((w / "config.json").read_text())
    assert results["individuals"] == 4
    assert config["population_size"] == int(name[-1])
    assert config["train.chunk_steps"] == 4  # the --config. override
  plan = json.loads((root / "sweep.json").read_text())
  assert plan["grid"] == {"population_size": [2, 3]}
  assert len(plan["points"]) == 2

  # Again: nothing left to run. With one more seed: only the new one runs.
  mtime = (root / "population_size=2/seed0/results.json").stat().st_mtime
  again = _sweep(argv[:5] + ["2"] + argv[6:])
  assert again.returncode == 0, again.stderr[-2000:]
  assert "4 of 4 experiments finished" in again.stdout
  assert "4 experiments, 2 to run" in again.stderr
  assert (root / "population_size=2/seed0/results.json").stat().st_mtime \
      == mtime
  assert len(json.loads((root / "sweep.json").read_text())["points"]) == 4

  # Another grid key on the same folder is refused, in one line.
  other = _sweep(argv[:3] + ["sample_size=2"] + argv[4:])
  assert other.returncode == 2
  assert "holds a sweep with other grid keys (['population_size'])" in \
      other.stderr
  assert "Traceback" not in other.stderr

  for _ in range(2):  # again: the report's folder is no experiment's
    report = subprocess.run(
        [sys.executable, "-m", "evojax_nas", "report", "--workdir",
         str(root)], capture_output=True, text=True, cwd=ROOT, timeout=300,
        check=False)
    assert report.returncode == 0, report.stderr[-2000:]
  page = (root / "report" / "index.html").read_text()
  assert "population_size = 2, 3" in page and 'data-file="final.png"' in page
  stats = json.loads((root / "report" / "sweep_stats.json").read_text())
  assert [s["finished"] for s in stats] == ["2 of 2", "2 of 2"]
  for s, name in zip(stats, ("population_size=2", "population_size=3")):
    tests = [json.loads((root / name / f"seed{k}" / "results.json")
                        .read_text())["best"]["test_accuracy"]
             for k in (0, 1)]
    assert s["point"] == name
    assert s["test_mean"] == pytest.approx(sum(tests) / 2)


def test_a_sweep_folder_gains_values_and_seeds_not_keys(tmp_path,
                                                         cifar10_dir):
  cfg = write_cli_config(tmp_path / "c.py", cifar10_dir, tmp_path / "cache")
  root = tmp_path / "study"
  root.mkdir()
  sweep._record(sweep.plan(str(cfg), ["population_size=2,4"], 1), root)  # pylint: disable=protected-access
  sweep._record(sweep.plan(str(cfg), ["population_size=4,8"], 2), root)  # pylint: disable=protected-access
  plan = read_sweep_plan(root)
  assert plan["grid"] == {"population_size": [2, 4, 8]}
  assert sorted(p["workdir"] for p in plan["points"]) == [
      "population_size=2/seed0", "population_size=4/seed0",
      "population_size=4/seed1", "population_size=8/seed0",
      "population_size=8/seed1"]
  for grid, overrides, match in (
      (["sample_size=2,3"], (), "other grid keys"),
      (["population_size=2"], ("seed=3",), "other overrides")):
    with pytest.raises(ConfigError, match=match):
      sweep._record(sweep.plan(str(cfg), grid, 1, overrides), root)  # pylint: disable=protected-access


@pytest.mark.slow
def test_a_failed_experiment_does_not_stop_the_others(tmp_path, cifar10_dir):
  cfg = write_cli_config(tmp_path / "c.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=3, steps_per_individual=8,
                         tensorboard=False)
  root = tmp_path / "study"
  plan = sweep.plan(str(cfg), ["train.batch_size=20,5000"], 1)
  rows = sweep.run(plan, root)
  codes = {r["workdir"].parent.name: r["code"] for r in rows}
  assert codes == {"batch_size=20": 0, "batch_size=5000": 2}
  failed = [r for r in rows if r["code"]][0]
  assert "exceeds the" in failed["line"]  # its one-line error, from run.log


@pytest.mark.slow
def test_sigterm_stops_the_sweep_and_its_experiment_cleanly(tmp_path,
                                                            cifar10_dir):
  """SIGTERM to the sweep is passed on to the running experiment, which
  stops as it does alone (exit 143, nothing lost); the same command then
  finishes it."""
  cfg = write_cli_config(tmp_path / "c.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=12, steps_per_individual=40,
                         tensorboard=False)
  root = tmp_path / "study"
  argv = ["--config", str(cfg), "--grid", "population_size=3", "--workdir",
          str(root)]
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  proc = subprocess.Popen([sys.executable, "-m", "evojax_nas", "sweep",
                           *argv], cwd=ROOT, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
  log = root / "population_size=3" / "seed0" / "events.jsonl"
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None:
    if log.is_file() and log.read_text().count('"trained"') >= 2:
      break
    time.sleep(0.2)
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=180)
  assert proc.returncode == 143, err[-3000:]
  assert "evojax_nas sweep: stopped (SIGTERM)" in err
  run_log = (log.parent / "run.log").read_text()
  assert "evojax_nas resume: stopped (SIGTERM)" in run_log
  assert "Traceback" not in err + run_log
  assert not (log.parent / "results.json").exists()
  done = _sweep(argv)
  assert done.returncode == 0, done.stderr[-2000:]
  events = [json.loads(l) for l in log.read_text().splitlines()]
  check_events(events, 3, max_individuals=12)
  assert json.loads((log.parent / "results.json").read_text())[
      "individuals"] == 12


def test_a_report_folder_is_never_an_experiment(tmp_path):
  """Not even with the stats file older versions wrote into a sweep's
  report (`report/sweep.json`, the sweep's own marker name)."""
  from evojax_nas import workdir  # pylint: disable=g-import-not-at-top
  (tmp_path / "report").mkdir()
  (tmp_path / "report" / "sweep.json").write_text("[]")
  assert workdir.is_experiment(tmp_path / "report")  # a folder of its own
  (tmp_path / "sweep.json").write_text("{}")
  assert workdir.is_experiment(tmp_path)
  assert not workdir.is_experiment(tmp_path / "report")
  assert workdir.owned(tmp_path / "report" / "index.html",
                       allow=("report",)) is None
