"""`evojax_nas retrain`: the found architecture trained further, wider, on
another data set; resumable after SIGKILL to the same weights; its model
exported and run without evojax-nas; `final.fraction` in a run."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import jax
import numpy as np
import pytest

from conftest import write_cifar100_python
from evojax_nas import config as config_lib
from evojax_nas import run
from evojax_nas.config import ConfigError, default_config
from evojax_nas.model.exported import load_model
from evojax_nas.runs.retrain import retrain, scale_ladder, start_variables
from evojax_nas.genomes.dna import conv_chain
from evojax_nas.genomes.scaling import scale
from evojax_nas.train.data import DataError
from test_export import CHILD


def cli(*args):
  return subprocess.run([sys.executable, "-m", "evojax_nas", *args],
                        capture_output=True, text=True, timeout=600)


def tiny(c, tmp):
  c.population_size, c.steps_per_individual = 3, 30
  c.progress, c.tensorboard = False, True
  c.data.cache_dir = str(tmp / "cache")
  c.data.val_size, c.train.batch_size = 100, 20
  c.train.chunk_steps, c.train.eval_batch_size = 2, 100
  c.initial_learning_rate = 0.05
  # Convolutions early, so that width has something to scale.
  c.mutations.update({"insert_convolution": 10.0})
  return c


@pytest.fixture(scope="module")
def finished(cifar10_dir, tmp_path_factory):
  tmp = tmp_path_factory.mktemp("retrain")
  c = tiny(default_config(), tmp)
  c.max_individuals = 6
  c.data.dir = str(cifar10_dir)
  results = run(c, tmp / "wd")
  write_cifar100_python(tmp / "c100" / "cifar-100-python")
  return tmp, results


def settings(tmp, **retrain):
  c = config_lib.from_workdir(tmp / "wd")
  c.retrain.steps, c.retrain.eval_points = 40, 2
  for k, v in retrain.items():
    c.update_from_flattened_dict({f"retrain.{k}": v})
  return c


@pytest.mark.slow
def test_sigkill_midway_resumes_to_the_uninterrupted_weights(finished):
  tmp, _ = finished
  whole = retrain(tmp / "wd", None, settings(tmp, steps=120, name="whole"))
  args = ["retrain", f"--workdir={tmp / 'wd'}",
          "--config.retrain.steps=120", "--config.retrain.eval_points=2",
          "--config.retrain.name=killed",
          "--config.retrain.checkpoint_every_s=0"]
  state = tmp / "wd" / "retrained" / "killed" / "state"
  proc = subprocess.Popen([sys.executable, "-m", "evojax_nas", *args],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None and not (
      state.is_dir() and any(p.name.isdigit() and int(p.name) >= 20
                             for p in state.iterdir())):
    time.sleep(0.05)
  assert proc.poll() is None, "finished before it could be killed"
  os.kill(proc.pid, signal.SIGKILL)
  proc.wait()
  killed_at = max(int(p.name) for p in state.iterdir() if p.name.isdigit())
  assert 0 < killed_at < 120
  assert not (state.parent / "results.json").exists()
  done = cli(*args)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "retrained (killed): test" in done.stdout
  resumed = json.loads((state.parent / "results.json").read_text())
  assert resumed["weights_sha256"] == whole["weights_sha256"]
  assert resumed["test_accuracy"] == whole["test_accuracy"]
  assert [p["step"] for p in resumed["curve"]] == [0, 60, 120]


def test_longer_training_beats_the_found_model_and_is_reported(finished):
  tmp, results = finished
  r = retrain(tmp / "wd", None, settings(tmp, steps=200))
  assert r["name"] == f"{results['best']['id']}-found-cosine-200"
  assert r["found_test_accuracy"] == results["best"]["test_accuracy"]
  assert r["found_val_accuracy"] == results["best"]["val_accuracy"]
  assert r["test_accuracy"] > r["found_test_accuracy"]
  assert r["curve"][0]["val_accuracy"] == r["found_val_accuracy"]
  assert r["flops"]["total"] >= 200 * r["flops"]["train_step"] > 0
  assert r["seconds"] > 0 and r["config"]["lr_steps"] == [[0.5, 0.1],
                                                         [0.75, 0.01]]
  out = tmp / "wd" / "retrained" / r["name"]
  assert list((out / "tensorboard").glob("events.out.tfevents.*"))
  # The same command again: nothing to do, the same answer.
  assert retrain(tmp / "wd", None, settings(tmp, steps=200)) == r


def test_width_two_doubles_every_convolution_and_inherits_the_overlap(
    finished):
  tmp, _ = finished
  found = load_model(tmp / "wd")
  r = retrain(tmp / "wd", None, settings(tmp, width=2.0))
  assert r["name"].endswith("-w2")
  wide = load_model(tmp / "wd" / "retrained" / r["name"])
  convs = [e for e in found.genome.edges if e.kind == "conv"]
  assert convs, "the found model has a convolution to widen"
  for e in convs:
    old = found.variables["params"][f"conv_{e.id}"]["kernel"]
    new = wide.variables["params"][f"conv_{e.id}"]["kernel"]
    assert new.shape[-1] == 2 * old.shape[-1]
  assert set(r["inherited"]["partial"]) >= {f"conv_{e.id}" for e in convs}
  # Before training: the found weights in the overlapping block, fresh
  # (He-initialised) channels beside them.
  from evojax_nas.compile.steps import StepCache, StepConfig
  genome = scale(found.genome, 2.0)
  net = StepCache(StepConfig(num_classes=10)).get(genome)
  cfg = settings(tmp, width=2.0).retrain
  start, _ = start_variables(net, jax.random.key(0), found, cfg, True)
  for e in convs:
    old = np.asarray(found.variables["params"][f"conv_{e.id}"]["kernel"])
    new = start["params"][f"conv_{e.id}"]["kernel"]
    np.testing.assert_array_equal(new[..., :old.shape[2], :old.shape[3]],
                                  old)
    assert np.abs(new[..., old.shape[3]:]).sum() > 0


def test_scaling_makes_new_genomes():
  dna = conv_chain(channels=(3, 5), strides=(1, 2))
  wide = scale(dna, 2.0)
  assert [e.out_channels for e in wide.convolutions] == [6, 10]
  assert [e.out_channels for e in dna.convolutions] == [3, 5]
  with pytest.raises(Exception, match="retrain.depth=2"):
    scale(dna, 1.0, 2)
  from evojax_nas.genomes.genetic_cnn import GeneticCNN
  from evojax_nas.genomes.nb201 import Cell
  g = scale(GeneticCNN(bits=(1, 0, 1, 1, 0, 1), nodes=(3, 3),
                       widths=(4, 8)), 2.0)
  assert g.widths == (8, 16)
  cell = scale(Cell((1, 2, 3, 4, 0, 1), channels=16, cells_per_stage=5),
               0.5, 2)
  assert (cell.channels, cell.cells_per_stage) == (8, 10)
  # min_channels lifts the narrow layers only, after the width.
  assert [e.out_channels for e in scale(dna, 2.0, 1, 8).convolutions] == [
      8, 10]
  assert [e.out_channels for e in scale(dna, 1.0, 1, 4).convolutions] == [
      4, 5]
  assert scale(dna, 1.0, 1, 0) is dna


def test_transfer_to_a_data_set_of_another_class_count(finished):
  tmp, _ = finished
  found = load_model(tmp / "wd")
  r = retrain(tmp / "wd", None, settings(
      tmp, **{"data.name": "cifar100", "data.dir": str(tmp / "c100"),
              "data.val_size": 50}))
  assert "-cifar100" in r["name"] and r["data"]["classes"] == 100
  assert "head" in r["inherited"]["fresh"]
  convs = [f"conv_{e.id}" for e in found.genome.convolutions]
  assert set(convs) <= set(r["inherited"]["inherited"])
  model = load_model(tmp / "wd" / "retrained" / r["name"])
  assert len(model.class_names) == 100
  assert model.variables["params"]["head"]["kernel"].shape[-1] == 100
  images = np.zeros((3, 32, 32, 3), np.uint8)
  assert model.probabilities(images).shape == (3, 100)
  # On another data set the found accuracies are the search's (its data).
  assert r["found_data"] == "cifar10"


def test_the_exported_retrained_model_runs_without_evojax_nas(finished):
  tmp, _ = finished
  r = retrain(tmp / "wd", None, settings(tmp, steps=60, schedule="stepped"))
  folder = tmp / "wd" / "retrained" / r["name"]
  out = tmp / "retrained.jaxexport"
  done = cli("export", f"--workdir={folder}", f"--out={out}")
  assert done.returncode == 0, done.stderr[-3000:]
  contract = json.loads(Path(f"{out}.json").read_text())
  assert contract["test_accuracy"] == r["test_accuracy"]
  from evojax_nas.train import data
  c = config_lib.from_workdir(tmp / "wd")
  ds = data.load("cifar10", c.data.dir, c.data.cache_dir, 100)
  np.save(tmp / "x.npy", ds.test_images)
  np.save(tmp / "y.npy", ds.test_labels)
  child = subprocess.run(
      [sys.executable, "-c", CHILD, str(out),
       str(tmp / "retrained.float32.jaxexport"), str(tmp / "x.npy"),
       str(tmp / "y.npy")], capture_output=True, text=True, timeout=600,
      cwd=tmp)
  assert child.returncode == 0, child.stderr[-3000:]
  got = json.loads(child.stdout.strip().splitlines()[-1])
  assert got["correct"] == round(r["test_accuracy"] * len(ds.test_labels))
  assert got["ours_loaded"] == []


@pytest.mark.slow
def test_mistakes_end_in_one_line(finished):
  tmp, _ = finished
  wd = tmp / "wd"
  done = cli("retrain", f"--workdir={wd}", "--individual=999")
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1].startswith(
      "evojax_nas retrain: error: individual 999 of ")
  done = cli("retrain", f"--workdir={wd}", "--config.retrain.width=-1")
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1] == (
      "evojax_nas retrain: error: retrain.width must be positive, got -1.0")
  done = cli("retrain", f"--workdir={wd}", "--front")
  assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
      f"evojax_nas retrain: error: {wd} exported no Pareto front "
      "(models/<id>): only a run that selects on costs does (objectives=("
      "'accuracy', 'flops'), ...); retrain one with --individual ID")
  done = cli("retrain", f"--workdir={wd}", "--config.population_size=9")
  assert done.returncode == 2 and "retrain takes --config.retrain." in (
      done.stderr.strip().splitlines()[-1])
  # The convolution kernels may differ from the recorded run's (speed).
  done = cli("retrain", f"--workdir={wd}", "--config.train.conv_kernels=mkl")
  assert done.returncode == 2 and done.stderr.strip().splitlines()[-1] == (
      "evojax_nas retrain: error: train.conv_kernels 'mkl' unknown; valid "
      "choices: ['auto', 'eigen', 'xla']")
  # A folder that holds another retraining.
  retrain(wd, None, settings(tmp, steps=20, name="mine"))
  with pytest.raises(ConfigError, match="holds a different retraining "
                     r"\(steps=20, not 40\)"):
    retrain(wd, None, settings(tmp, name="mine"))
  # Images the found model does not take.
  meta = wd / "model" / "model.json"
  saved = meta.read_text()
  try:
    meta.write_text(json.dumps(dict(json.loads(saved),
                                    image_shape=[64, 64, 3])))
    with pytest.raises(DataError, match=r"the found model takes \(64, 64, "
                       r"3\).*retrain.init=scratch"):
      retrain(wd, None, settings(tmp, name="shape"))
  finally:
    meta.write_text(saved)


@pytest.mark.slow
@pytest.mark.parametrize("engine", ["network", "layers"])
def test_final_fraction_retrains_the_best_with_its_share(cifar10_dir,
                                                         tmp_path, engine):
  """The final stage after a search on either engine."""
  c = tiny(default_config(), tmp_path)
  c.train.engine = engine
  c.data.dir = str(cifar10_dir)
  c.max_steps = 360
  c.final.fraction = 0.5
  c.retrain.eval_points = 2
  results = run(c, tmp_path / "wd")
  # The search kept half the steps: 6 individuals of 30 steps.
  assert results["individuals"] == 6
  final = results["final"]
  assert final["fraction"] == 0.5 and final["search"]["max_steps"] == 180
  assert final["retrain"]["steps"] == 180
  assert final["retrain"]["found_test_accuracy"] == (
      results["best"]["test_accuracy"])
  on_disk = json.loads((tmp_path / "wd" / "results.json").read_text())
  assert on_disk["final"] == final
  assert load_model(final["model"]).info["retrained"]["steps"] == 180


def test_a_retraining_is_one_fused_program_whatever_the_search_ran():
  """The per-unit engine keeps no dropout stream for a retraining's
  checkpoints (the demo's final stage, on one device, once failed on it)."""
  from jax.sharding import Mesh  # pylint: disable=g-import-not-at-top
  from evojax_nas.compile.steps import CompiledNetwork, StepCache, StepConfig  # pylint: disable=g-import-not-at-top
  from evojax_nas.runs.retrain import training_config  # pylint: disable=g-import-not-at-top
  from evojax_nas.train.trainer import engine_for  # pylint: disable=g-import-not-at-top
  c = default_config()
  c.train.engine = "layers"
  assert engine_for(training_config(c)) == "network"
  cache = StepCache(StepConfig(num_classes=10, batch_size=8, chunk_steps=2,
                               engine=engine_for(training_config(c))),
                    mesh=Mesh(np.array(jax.devices()[:1]), ("data",)))
  assert type(cache.get(conv_chain())) is CompiledNetwork  # pylint: disable=unidiomatic-typecheck


def test_the_report_shows_found_against_retrained(finished):
  tmp, _ = finished
  r = retrain(tmp / "wd", None, settings(tmp, steps=20, name="for-report"))
  from evojax_nas.reports.report import build
  page = build([tmp / "wd"], tmp / "report").read_text()
  assert "<h2>Retrained</h2>" in page and 'data-file="retrained.png"' in page
  assert f"<td>{r['test_accuracy']:.4f}</td>" in page
  assert "<td>for-report</td>" in page


@pytest.mark.slow
def test_ensemble_retrains_each_member_and_votes(finished):
  tmp, results = finished
  done = cli("retrain", f"--workdir={tmp / 'wd'}", "--ensemble",
             "--config.retrain.steps=20", "--config.retrain.eval_points=1")
  assert done.returncode == 0, done.stderr[-3000:]
  lines = done.stdout.strip().splitlines()
  ids = results["ensemble"]["ids"]
  assert [line.split()[1] for line in lines[:-1]] == [str(i) for i in ids]
  vote = json.loads((tmp / "wd" / "retrained" /
                     "ensemble-found-cosine-20.json").read_text())
  assert vote["members"] == [f"{i}-found-cosine-20" for i in ids]
  assert lines[-1].startswith(f"ensemble of the {len(ids)} retrained, "
                              f"majority vote: test "
                              f"{vote['test_accuracy']:.4f}")


def test_a_scan_loop_still_validates_and_saves_along_the_way(finished):
  """GPUs and TPUs scan over every chunk of an individual in one dispatch;
  a retraining keeps at least `eval_points` dispatches."""
  tmp, _ = finished
  c = settings(tmp, steps=40, name="scan")
  c.train.loop = "scan"
  r = retrain(tmp / "wd", None, c)
  assert [p["step"] for p in r["curve"]] == [0, 20, 40]


def test_final_fraction_splits_a_time_budget(tmp_path):
  from evojax_nas.evolution.loop import over_budget
  from evojax_nas.runs.final import final_seconds, final_steps
  c = default_config()
  c.time_budget_s, c.final.fraction, c.train.chunk_steps = 800.0, 0.25, 4
  c = config_lib.validate(c)
  # The search stops at 600 s of its 800.
  assert not over_budget(c, 10, 599.0) and over_budget(c, 10, 600.0)
  (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(e) for e in (
      {"event": "trained", "id": 4, "steps": 300, "seconds": {"train": 9.0}},
      {"event": "trained", "id": 5, "steps": 300, "seconds": {"train": 3.0}},
  )) + "\n")
  # A bound: twice what 200 s buys at the search's 0.01 s a step; the
  # retraining keeps what fits the 200 s left at its own speed.
  assert final_steps(c, tmp_path, 5) == 40_000
  assert final_seconds(c, {"wall_time_s": 604.0}) == 196.0
  assert final_seconds(c, {"wall_time_s": 790.0}) == 100.0  # half, at least
  c.max_steps = 100_000  # and a quarter of the steps is fewer
  assert final_steps(c, tmp_path, 5) == 25_000
  c.max_steps, c.final.fraction = 0, 0.0
  assert not over_budget(c, 10, 799.0)
  with pytest.raises(ConfigError, match="final.fraction must be in"):
    c.final.fraction = 1.0
    config_lib.validate(c)


@pytest.mark.slow
def test_a_time_budget_trains_the_steps_that_fit(finished):
  """retrain.time_budget_s: the steps are timed here, then trained as if
  given: the same weights as a retraining told that many steps."""
  tmp, _ = finished
  timed = retrain(tmp / "wd", None, settings(
      tmp, steps=20_000, time_budget_s=4.0, name="timed"))
  steps = timed["steps"]
  assert 0 < steps < 20_000 and steps % 2 == 0
  assert timed["curve"][-1]["step"] == steps
  told = retrain(tmp / "wd", None, settings(tmp, steps=steps, name="told"))
  assert told["weights_sha256"] == timed["weights_sha256"]
  with pytest.raises(ConfigError, match="retrain.time_budget_s must be"):
    config_lib.validate(settings(tmp, time_budget_s=-1.0))


@pytest.mark.slow
def test_a_time_budget_steps_the_scale_down_to_the_epochs_it_needs(finished):
  """retrain.min_epochs: where the configured scale's steps that fit make
  too few epochs, the ladder's next rungs are tried (none here makes them:
  the last rung, width 1, trains); the scale chosen trains as if it had
  been configured."""
  tmp, _ = finished
  laddered = retrain(tmp / "wd", None, settings(
      tmp, width=2.0, min_channels=16, steps=20_000, time_budget_s=6.0,
      min_epochs=10_000.0, name="laddered"))
  assert laddered["scale"]["width"] == 1.0
  assert laddered["scale"]["min_channels"] == 0
  tried = laddered["scale"]["tried"]
  assert (tried[0]["width"], tried[0]["min_channels"]) == (2.0, 16)
  assert (tried[-1]["width"], tried[-1]["min_channels"]) == (1.0, 0)
  assert tried[0]["train_step_flops"] > tried[-1]["train_step_flops"]
  steps = laddered["steps"]
  assert 0 < steps < 20_000
  assert load_model(tmp / "wd" / "retrained" / "laddered").info[
      "retrained"]["width"] == 1.0
  told = retrain(tmp / "wd", None, settings(tmp, steps=steps, name="told1"))
  assert told["weights_sha256"] == laddered["weights_sha256"]
  # Epochs within reach (or `steps` fewer): the configured scale, timed
  # once.
  kept = retrain(tmp / "wd", None, settings(
      tmp, width=2.0, steps=40, time_budget_s=60.0, min_epochs=1.0,
      name="kept"))
  assert kept["scale"]["width"] == 2.0
  assert len(kept["scale"]["tried"]) == 1
  assert kept["steps"] == 40


def test_the_scale_ladder_halves_the_floor_then_drops_it_then_the_width():
  r = config_lib.retrain_config()
  r.width, r.min_channels = 2.0, 32
  assert scale_ladder(r) == [(2.0, 32), (2.0, 16), (2.0, 8), (2.0, 0),
                             (1.0, 0)]
  r.width, r.min_channels = 1.0, 0
  assert scale_ladder(r) == [(1.0, 0)]
  r.width, r.min_channels = 0.5, 4
  assert scale_ladder(r) == [(0.5, 4), (0.5, 0)]
  with pytest.raises(ConfigError, match="retrain.min_epochs must be"):
    c = default_config()
    c.retrain.min_epochs = -1.0
    config_lib.validate(c)


def test_different_settings_get_different_folders():
  from evojax_nas.runs.retrain import folder_name
  r = config_lib.retrain_config()
  assert folder_name(87, r) == "87-found-cosine-4500"
  r.eval_points = 3  # the curve, not the weights
  assert folder_name(87, r) == "87-found-cosine-4500"
  r.label_smoothing, r.width, r.flip = 0.1, 2.0, False
  assert folder_name(87, r) == "87-found-cosine-4500-w2-ls0.1-noflip"
  r.lr_steps = ((0.5, 0.2),)
  other = folder_name(87, r)
  assert other.startswith("87-found-cosine-4500-w2-ls0.1-noflip-")
  r.lr_steps = ((0.5, 0.3),)
  assert folder_name(87, r) != other


@pytest.mark.slow
def test_sigterm_stops_with_one_line_and_a_whole_saved_state(finished):
  tmp, _ = finished
  state = tmp / "wd" / "retrained" / "stopped" / "state"
  proc = subprocess.Popen(
      [sys.executable, "-m", "evojax_nas", "retrain",
       f"--workdir={tmp / 'wd'}", "--config.retrain.steps=4000",
       "--config.retrain.name=stopped",
       "--config.retrain.checkpoint_every_s=0"],
      stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 300
  while time.time() < deadline and proc.poll() is None and not (
      state.is_dir() and any(p.name.isdigit() for p in state.iterdir())):
    time.sleep(0.05)
  time.sleep(1)  # mid-save, most likely: saves follow every dispatch
  proc.send_signal(signal.SIGTERM)
  _, err = proc.communicate(timeout=120)
  assert proc.returncode == 143, err[-3000:]
  lines = [l for l in err.strip().splitlines() if "WARNING" not in l]
  assert lines[-1].startswith("evojax_nas retrain: stopped (SIGTERM); ")
  assert "Traceback" not in err
  assert [p.name.isdigit() for p in state.iterdir()] == [True]


def test_a_running_experiment_retrains_its_best_so_far(finished, tmp_path):
  """Before results.json and model/ exist (a run still going), the best
  by validation among the kept checkpoints is retrained, with the class
  names and statistics of the run's data.json."""
  import shutil  # pylint: disable=g-import-not-at-top
  tmp, results = finished
  wd = tmp_path / "wd"
  shutil.copytree(tmp / "wd", wd)
  shutil.rmtree(wd / "model")
  (wd / "results.json").unlink()
  c = config_lib.from_workdir(wd)
  c.retrain.steps, c.retrain.eval_points = 20, 1
  out = retrain(wd, None, c)
  events = [json.loads(l) for l in (wd / "events.jsonl").open()]
  kept = {int(p.name) for p in (wd / "checkpoints").iterdir()
          if p.name.isdigit()}
  best = max((e for e in events if e["event"] == "trained"
              and e["id"] in kept),
             key=lambda e: (e["val_accuracy"], -e["id"]))
  assert out["individual"] == best["id"] == results["best"]["id"]
  assert 0.0 <= out["test_accuracy"] <= 1.0


def test_a_paused_retraining_resumes_to_the_weights_of_one_run_straight_through(
    finished):
  """The final race's handover: a retraining paused after its first
  dispatch (`until` already past), its state saved with `meta`, is resumed
  by `retrain` to the weights of a retraining that never paused; the pause
  adds a curve point."""
  from evojax_nas.runs.retrain import Retraining, StateStore  # pylint: disable=g-import-not-at-top
  tmp, results = finished
  wd, ident = tmp / "wd", results["best"]["id"]
  straight = retrain(wd, ident, settings(tmp, steps=40, name="straight"))
  c = settings(tmp, steps=40, name="paused")
  found = load_model(wd, ident)
  out = wd / "retrained" / "paused"
  out.mkdir(parents=True)
  run_ = Retraining(c, out, found, ident=ident, genome=found.genome)
  lane = run_.trainer.lane(0)
  net, state, _ = run_.prepare(lane)
  state, curve, spent = run_.train(net, lane, state, store=None, curve=[],
                                   seconds=0.0, start=0, tb=None, until=0.0)
  assert [p["step"] for p in curve] == [0, 2]
  store = StateStore(out / "state")
  store.save(2, state, run_.meta(2, curve, spent))
  store.close()
  run_.trainer.close()
  resumed = retrain(wd, ident, c)
  assert resumed["weights_sha256"] == straight["weights_sha256"]
  assert [p["step"] for p in resumed["curve"]] == [0, 2, 20, 40]
  assert resumed["curve"][1] == curve[1]
