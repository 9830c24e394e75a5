"""End to end: a tiny run, its results, resumption, crash safety, bad input."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from evojax_nas import config as config_lib
from evojax_nas import load_model, run
from evojax_nas.runs.runner import Experiment
from evojax_nas.train.checkpoints import CheckpointError

from conftest import write_cli_config

from evojax_nas.evolution.invariants import check_events

ROOT = Path(__file__).resolve().parents[1]


def events(workdir):
  return [json.loads(l) for l in (Path(workdir) / "events.jsonl").open()]


def check_log_invariants(evs, population_size):
  """The crash-safety promises (evolution/invariants.py); the alive ids."""
  return set(check_events(evs, population_size)["alive"])


@pytest.mark.slow
def test_tiny_run_learns_and_writes_everything(tiny_config, tmp_path):
  tiny_config.max_individuals = 8
  tiny_config.steps_per_individual = 30
  results = run(tiny_config, tmp_path / "wd")
  wd = tmp_path / "wd"
  on_disk = json.loads((wd / "results.json").read_text())
  assert on_disk == json.loads(json.dumps(results))
  assert results["individuals"] == 8
  # Learnable synthetic data: far above the 10 % of chance.
  assert results["best"]["test_accuracy"] > 0.5
  assert 0.0 <= results["ensemble"]["test_accuracy"] <= 1.0
  assert results["total_flops"] > 0
  evs = events(wd)
  alive = check_log_invariants(evs, 3)
  births = [e for e in evs if e["event"] == "born"]
  assert [b["mutation"] for b in births[:3]] == ["initial"] * 3
  assert all(b["parent"] is not None for b in births[3:])
  trained = {e["id"]: e for e in evs if e["event"] == "trained"}
  best = max(trained.values(), key=lambda e: (e["val_accuracy"], -e["id"]))
  assert results["best"]["id"] == best["id"]
  assert results["best"]["val_accuracy"] == best["val_accuracy"]
  flops = trained[best["id"]]["flops"]
  assert flops["total"] == (flops["train_step"] * 30 +
                            flops["eval_batch"] * 5)   # 100 val / batch 20
  # Checkpoints: the alive plus the top-2 ever, no one else.
  kept = {int(p.name) for p in (wd / "checkpoints").iterdir()
          if p.name.isdigit()}
  assert alive <= kept and kept <= alive | set(results["ensemble"]["ids"])
  # The exported model predicts like the best individual.
  model = load_model(wd)
  from evojax_nas.train import data
  ds = data.load("cifar10", tiny_config.data.dir, tiny_config.data.cache_dir,
                 100)
  acc = float(np.mean(model.predict(ds.test_images) == ds.test_labels))
  assert acc == pytest.approx(results["best"]["test_accuracy"], abs=1e-6)
  assert model.probabilities(ds.test_images[0]).shape == (10,)


@pytest.mark.slow
def test_resume_continues_without_redoing_anything(tiny_config, tmp_path):
  wd = tmp_path / "wd"
  tiny_config.max_individuals = 5
  run(tiny_config, wd)
  first = events(wd)
  tiny_config.max_individuals = 9
  results = run(tiny_config, wd)
  evs = events(wd)
  assert evs[:len(first)] == first  # append-only
  check_log_invariants(evs, 3)
  assert results["individuals"] == 9
  assert sum(e["event"] == "started" for e in evs) == 2
  assert [e["resumed"] for e in evs if e["event"] == "started"] == [False, True]


@pytest.mark.slow
def test_same_seed_same_choices(tiny_config, tmp_path):
  lineage = []
  for name in ("a", "b"):
    run(tiny_config, tmp_path / name)
    lineage.append([(e["id"], e.get("parent"), e.get("mutation"))
                    for e in events(tmp_path / name) if e["event"] == "born"])
  assert lineage[0] == lineage[1]


@pytest.mark.slow
def test_interrupted_training_is_redone_once(tiny_config, tmp_path):
  """A crash between `born` and `trained`: the child is trained on resume."""
  wd = tmp_path / "wd"
  run(tiny_config, wd)
  evs = events(wd)
  last_born = max(i for i, e in enumerate(evs) if e["event"] == "born")
  crashed = evs[:last_born + 1]
  (wd / "events.jsonl").write_text(
      "".join(json.dumps(e) + "\n" for e in crashed) + '{"event": "trai')
  run(tiny_config, wd)
  evs = events(wd)
  check_log_invariants(evs, 3)
  assert sum(e["event"] == "trained" for e in evs) == 6


@pytest.mark.slow
def test_sigkill_mid_run_then_rerun_finishes(cifar10_dir, tmp_path):
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=14)
  wd = tmp_path / "wd"
  cmd = [sys.executable, "-m", "evojax_nas.main", f"--config={cfg}",
         f"--workdir={wd}"]
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  for kill_after in (3, 8):  # kill twice, at different stages
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    deadline = time.time() + 240
    while time.time() < deadline:
      path = wd / "events.jsonl"
      n = sum('"trained"' in l for l in path.open()) if path.exists() else 0
      if n >= kill_after or proc.poll() is not None:
        break
      time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
  done = subprocess.run(cmd, env=env, capture_output=True, text=True,
                        timeout=300)
  assert done.returncode == 0, done.stderr[-2000:]
  evs = events(wd)
  check_log_invariants(evs, 3)
  assert sum(e["event"] == "trained" for e in evs) == 14
  assert (wd / "results.json").exists()


def test_unknown_config_field_is_one_clear_error(tiny_config, tmp_path):
  tiny_config.unlock()
  tiny_config.popluation_size = 4
  with pytest.raises(config_lib.ConfigError, match="popluation_size"):
    run(tiny_config, tmp_path / "wd")
  assert not (tmp_path / "wd").exists()


def test_command_line_errors_are_one_line(tiny_config, tmp_path):
  cfg = write_cli_config(tmp_path / "cfg.py", tmp_path / "missing",
                         tmp_path / "cache", max_individuals=14)
  env = dict(os.environ, PYTHONPATH=str(ROOT))
  base = [sys.executable, "-m", "evojax_nas.main", f"--config={cfg}",
          f"--workdir={tmp_path / 'wd'}"]
  out = subprocess.run(base, env=env, capture_output=True, text=True)
  assert out.returncode == 2
  assert out.stderr.strip().splitlines()[-1].startswith(
      "evojax_nas: error: cifar10 not found") or "does not exist" in out.stderr
  assert len([l for l in out.stderr.splitlines() if "error" in l]) == 1
  out = subprocess.run(base + ["--config.no_such_field=1"], env=env,
                       capture_output=True, text=True)
  assert out.returncode != 0 and "no_such_field" in out.stderr


def test_changed_config_on_resume_is_refused(tiny_config, tmp_path):
  wd = tmp_path / "wd"
  run(tiny_config, wd)
  before = (wd / "events.jsonl").read_bytes()
  tiny_config.population_size = 4
  with pytest.raises(config_lib.ConfigError, match="population_size=3"):
    run(tiny_config, wd)
  assert (wd / "events.jsonl").read_bytes() == before


@pytest.mark.slow
def test_corrupt_checkpoint_is_detected_and_its_individual_discarded(
    tiny_config, tmp_path, caplog):
  wd = tmp_path / "wd"
  run(tiny_config, wd)
  exp = Experiment(tiny_config, wd)
  alive = [i.id for i in exp.history.alive]
  for ident in alive:  # every possible parent is damaged
    for f in (wd / "checkpoints" / str(ident)).rglob("*"):
      if f.is_file() and f.stat().st_size > 0 and "weights" in str(f):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 3])
  with pytest.raises(CheckpointError, match=f"individual {alive[0]}.*corrupt"):
    exp.checkpoints.restore(alive[0], exp.cache.get(
        exp.history.individuals[alive[0]].genome).abstract_variables)
  before = (wd / "events.jsonl").read_text()
  tiny_config.max_individuals = 8
  with caplog.at_level("WARNING", logger="evojax_nas"):
    run(tiny_config, wd)
  assert (wd / "events.jsonl").read_text().startswith(before)
  evs = events(wd)
  discarded = {int(m.group(1)) for r in caplog.records
               if (m := re.search(r"individual (\d+) is discarded",
                                  r.getMessage()))}
  assert discarded and discarded <= set(alive)
  killed = {e["id"] for e in evs if e["event"] == "killed"}
  assert discarded <= killed  # dead (as a victim already, or discarded)
  assert not any((wd / "checkpoints" / str(i)).exists() for i in discarded)
  assert sum(e["event"] == "trained" for e in evs) == 8


def test_hand_edited_invalid_genome_in_the_log_is_reported(tiny_config,
                                                           tmp_path):
  wd = tmp_path / "wd"
  run(tiny_config, wd)
  lines = (wd / "events.jsonl").read_text().splitlines()
  n = next(i for i, l in enumerate(lines) if '"born"' in l)
  e = json.loads(lines[n])
  e["genome"]["learning_rate"] = -3
  lines[n] = json.dumps(e)
  (wd / "events.jsonl").write_text("\n".join(lines) + "\n")
  before = (wd / "events.jsonl").read_bytes()
  with pytest.raises(ValueError, match=rf"events.jsonl:{n + 1}:.*learning_rate"):
    run(tiny_config, wd)
  assert (wd / "events.jsonl").read_bytes() == before


def test_failed_first_start_leaves_the_workdir_free(tiny_config, tmp_path):
  """config.json is recorded only once the data has loaded, so the
  corrected command is not refused as "a different experiment"."""
  from evojax_nas.train.data import DataError  # pylint: disable=g-import-not-at-top
  wd = tmp_path / "wd"
  good_dir = tiny_config.data.dir
  tiny_config.data.dir = str(tmp_path / "missing")
  with pytest.raises(DataError):
    run(tiny_config, wd)
  assert not (wd / "config.json").exists()
  assert not (wd / "events.jsonl").exists()
  tiny_config.data.dir = good_dir
  tiny_config.data.val_size = 200  # a changed science field: still accepted
  assert run(tiny_config, wd)["individuals"] == 6


def test_batch_larger_than_the_training_set_is_refused(tiny_config, tmp_path):
  tiny_config.train.batch_size = 100_000
  with pytest.raises(config_lib.ConfigError,
                     match=r"train.batch_size=100000 exceeds the 500 "
                           r"training images"):
    run(tiny_config, tmp_path / "wd")
  assert not (tmp_path / "wd" / "config.json").exists()


@pytest.mark.slow
@pytest.mark.parametrize("strategy", ["tournament", "random", "aging"])
def test_a_population_of_two_runs_and_resumes(strategy, tiny_config,
                                              tmp_path):
  """The smallest population of Real et al. (2017, figure 3), sample 2: a
  child is born ahead only once a whole sample is trained and alive, so
  the tournament never draws a slot of the child in training."""
  c = tiny_config
  c.strategy, c.population_size, c.sample_size = strategy, 2, 2
  c.max_individuals = 5
  run(c, tmp_path / "wd")
  c.max_individuals = 9
  run(c, tmp_path / "wd")
  evs = events(tmp_path / "wd")
  check_events(evs, 2, max_individuals=9)
  assert all(e["id"] >= 0 for e in evs if e["event"] == "killed")


def test_a_log_that_kills_a_dead_slot_is_refused_with_one_line(tiny_config,
                                                               tmp_path):
  """What the old in-process loop wrote at population 2 (`killed` id -1)."""
  wd = tmp_path / "wd"
  run(tiny_config, wd)
  with open(wd / "events.jsonl", "a", encoding="utf-8") as f:
    f.write(json.dumps({"event": "killed", "id": -1, "t": 99.0,
                        "reason": "tournament", "by": 6}) + "\n")
  n = len((wd / "events.jsonl").read_text().splitlines())
  tiny_config.max_individuals = 8
  with pytest.raises(ValueError, match=rf"events.jsonl:{n}: killed event "
                     r"names an unknown individual.*evojax_nas repair"):
    run(tiny_config, wd)
