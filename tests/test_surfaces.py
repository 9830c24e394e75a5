"""Nothing lost on the surfaces added last: export, repair, resume, sweep,
data and config (issue 24). Each test is one row (or a class of rows) of
docs/errors.md's "What happens when..." table: one line and exit 2 for a mistake,
nothing written before it changed."""

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import write_cli_config, write_cifar10_python
from test_mistakes import ENV, checksums, cli, events, one_line

SMALL = {"max_individuals": 4}


@pytest.fixture(scope="module")
def finished(cifar10_dir, tmp_path_factory):
  """A finished tiny run (read-only for the tests: they copy it)."""
  root = tmp_path_factory.mktemp("finished")
  cfg = write_cli_config(root / "cfg.py", cifar10_dir, root / "cache",
                         **SMALL)
  done = cli(f"--config={cfg}", f"--workdir={root / 'wd'}")
  assert done.returncode == 0, done.stderr[-3000:]
  return root


@pytest.fixture
def wd(finished, tmp_path):
  """A private copy of the finished run (its config and data cache too)."""
  subprocess.run(["cp", "-a", str(finished), str(tmp_path / "run")],
                 check=True)
  return tmp_path / "run" / "wd"


def command(*args, timeout=300):
  return subprocess.run([sys.executable, "-m", "evojax_nas.main",
                         *map(str, args)], env=ENV, capture_output=True,
                        text=True, timeout=timeout, check=False)


# --- 1. an output never lands on the experiment's own files ---------------------
@pytest.mark.slow
@pytest.mark.parametrize("target", ["events.jsonl", "config", "results",
                                    "checkpoints/0/model.jaxexport",
                                    "model/x.jaxexport", "."])
def test_export_never_writes_over_the_experiment(wd, target):
  before = checksums(wd)
  out = wd / target
  done = command("export", "--workdir", wd, "--out", out)
  one_line(done, 2, "evojax_nas export: error: --out")
  assert checksums(wd) == before
  assert command("resume", "--workdir", wd).returncode == 0


def test_a_report_never_writes_over_the_experiment(wd):
  before = checksums(wd)
  done = command("report", "--workdir", wd, "--out", wd / "checkpoints")
  one_line(done, 2, "would write over checkpoints")
  assert checksums(wd) == before


def test_an_export_beside_the_experiment_files_is_fine(wd):
  done = command("export", "--workdir", wd, "--out",
                 wd / "exports" / "m.jaxexport")
  assert done.returncode == 0, done.stderr[-2000:]
  contract = json.loads((wd / "exports" / "m.jaxexport.json").read_text())
  for dtype, name in contract["programs"].items():
    data = (wd / "exports" / name).read_bytes()
    assert hashlib.sha256(data).hexdigest() == contract["sha256"][dtype]


# --- 2. repair sets aside what the set-aside lines produced ---------------------
def _trained_ids(lines):
  return [json.loads(l)["id"] for l in lines if '"trained"' in l]


@pytest.mark.slow
def test_repair_keeps_the_set_aside_record_consistent(wd):
  lines = (wd / "events.jsonl").read_text().splitlines(keepends=True)
  first_trained = next(i for i, l in enumerate(lines) if '"trained"' in l)
  cut = first_trained + 1
  aside_trained = _trained_ids(lines[cut:])
  assert aside_trained
  damaged = lines[:cut] + ["\x00\x00garbage\n"] + lines[cut:]
  (wd / "events.jsonl").write_text("".join(damaged))
  before = checksums(wd)
  done = command("repair", "--workdir", wd)
  assert done.returncode == 0, done.stderr
  assert "will be trained again" in done.stdout
  (aside,) = wd.glob("rejected-*")
  assert (aside / "events.jsonl").read_text() == "".join(damaged[cut:])
  # What the set-aside lines trained went with them, unchanged.
  moved = sorted(int(p.name) for p in (aside / "checkpoints").iterdir())
  assert set(moved) >= set(aside_trained) - {
      int(p.name) for p in (wd / "checkpoints").iterdir()} and moved
  for name in ("results.json", "model"):
    assert (aside / name).exists() and not (wd / name).exists()
  for rel, digest in before.items():
    if rel.startswith(("checkpoints/", "results.json", "model/")):
      top = aside / rel
      if top.is_file():
        assert hashlib.sha256(top.read_bytes()).hexdigest() == digest
  aside_sums = checksums(aside)
  done = command("resume", "--workdir", wd)
  assert done.returncode == 0, done.stderr[-3000:]
  assert "resuming" in done.stderr and "births go on from id" in done.stderr
  assert checksums(aside) == aside_sums  # the resume touched none of it
  assert (wd / "results.json").is_file()


# --- 3. an export replaces its files as one set ---------------------------------
def test_an_interrupted_export_leaves_the_previous_set_whole(wd, monkeypatch):
  from evojax_nas.commands import export as export_command  # pylint: disable=g-import-not-at-top
  from evojax_nas.model import portable  # pylint: disable=g-import-not-at-top
  out = wd.parent / "exports" / "m.jaxexport"
  assert export_command.main(["--workdir", str(wd), "--out", str(out)]) == 0
  before = checksums(out.parent)
  real, calls = portable.jax_export.export, []

  def export_then_stop(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the float32 program: the uint8 one is done
      raise KeyboardInterrupt("SIGTERM")
    return real(*args, **kwargs)
  monkeypatch.setattr(portable.jax_export, "export", export_then_stop)
  assert export_command.main(["--workdir", str(wd), "--out", str(out),
                              "--ensemble"]) == 143
  assert checksums(out.parent) == before  # the old set, whole; no temporary


def test_signals_wait_while_a_set_of_files_is_replaced(tmp_path):
  from evojax_nas import files, stop  # pylint: disable=g-import-not-at-top
  got = []
  old = signal.signal(signal.SIGTERM, lambda *a: got.append(len(got)))
  try:
    pairs = []
    for name in "abc":
      (tmp_path / f"{name}.tmp").write_text("new")
      (tmp_path / name).write_text("old")
      pairs.append((tmp_path / f"{name}.tmp", tmp_path / name))
    with stop.held():
      os.kill(os.getpid(), signal.SIGTERM)
      time.sleep(0.05)
      assert not got  # held
      files.replace_together(pairs)
    assert got and all((tmp_path / n).read_text() == "new" for n in "abc")
  finally:
    signal.signal(signal.SIGTERM, old)


# --- 4 and 10. numbers: finite, in range, checked before anything is written ---
@pytest.mark.slow
@pytest.mark.parametrize("override", [
    "train.momentum=nan", "train.momentum=1.5", "train.weight_decay=inf",
    "initial_learning_rate=inf", "cost_budget=nan", "time_budget_s=-inf",
    "train.lr_schedule=((0.5,nan),)", "genetic_cnn.dropout=1.0"])
def test_a_number_that_is_no_setting_is_refused_before_anything_is_written(
    cifar10_dir, tmp_path, override):
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         **SMALL)
  done = cli(f"--config={cfg}", f"--workdir={tmp_path / 'wd'}",
             f"--config.{override}")
  one_line(done, 2, override.split("=")[0].split(".")[-1])
  assert not (tmp_path / "wd").exists()
  done = cli(f"--config={cfg}", f"--workdir={tmp_path / 'wd'}")  # corrected
  assert done.returncode == 0, done.stderr[-3000:]


def test_a_training_that_diverges_is_a_failed_individual(cifar10_dir,
                                                         tmp_path):
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=3, initial_learning_rate=1e30)
  wd = tmp_path / "wd"
  done = cli(f"--config={cfg}", f"--workdir={wd}")
  one_line(done, 2, "failed", "no model to hand back",
           "lower initial_learning_rate")
  trained = [e for e in events(wd) if e["event"] == "trained"]
  assert len(trained) == 3
  assert all(e["failed"] and e["val_accuracy"] == 0.0 for e in trained)
  assert not (wd / "model").exists() and not (wd / "results.json").exists()


def test_a_failed_individual_is_never_the_answer():
  from evojax_nas.evolution.history import History  # pylint: disable=g-import-not-at-top
  from evojax_nas.evolution.individual import Individual  # pylint: disable=g-import-not-at-top
  from evojax_nas.runs.results import ranked  # pylint: disable=g-import-not-at-top
  inds = {i: Individual(i, trained={"val_accuracy": v, **extra})
          for i, (v, extra) in enumerate([(0.3, {}), (0.9, {"failed": "x"}),
                                          (0.5, {})])}
  h = History(inds, state=None, elapsed=0.0)
  assert [i.id for i, _ in ranked(h)] == [2, 0]
  assert [i.id for i in h.top(3)] == [2, 0]


# --- 5. the data an experiment was started on ------------------------------------
def _swapped_copy(src: Path, dst: Path):
  """The synthetic CIFAR copy with two labels swapped in every batch."""
  write_cifar10_python(dst / "cifar-10-batches-py")
  import pickle  # pylint: disable=g-import-not-at-top
  for f in (dst / "cifar-10-batches-py").iterdir():
    if f.name.startswith(("data_batch", "test_batch")):
      d = pickle.loads(f.read_bytes(), encoding="latin1")
      d["labels"] = [{0: 1, 1: 0}.get(y, y) for y in d["labels"]]
      f.write_bytes(pickle.dumps(d))
  del src


@pytest.mark.slow
def test_a_resume_on_other_data_is_refused(wd, tmp_path):
  recorded = json.loads((wd / "data.json").read_text())
  assert recorded["digest"] and recorded["class_names"]
  other = tmp_path / "swapped"
  _swapped_copy(Path(json.loads((wd / "config.json").read_text())["data.dir"]),
                other)
  before = checksums(wd)
  done = command("resume", "--workdir", wd, f"--config.data.dir={other}",
                 "--config.max_individuals=5")
  one_line(done, 2, "is not the data this experiment started on",
           "--config.data.same_as_recorded=True")
  assert checksums(wd) == before
  done = command("resume", "--workdir", wd, f"--config.data.dir={other}",
                 "--config.max_individuals=5",
                 "--config.data.same_as_recorded=True")
  assert done.returncode == 0, done.stderr[-3000:]
  accepted = json.loads((wd / "data.json").read_text())["accepted"]
  assert len(accepted) == 1 and accepted[0]["source"].startswith(str(other))


def test_the_same_data_moved_is_taken(wd, tmp_path):
  src = Path(json.loads((wd / "config.json").read_text())["data.dir"])
  subprocess.run(["cp", "-r", str(src), str(tmp_path / "moved")], check=True)
  done = command("resume", "--workdir", wd,
                 f"--config.data.dir={tmp_path / 'moved'}",
                 f"--config.data.cache_dir={tmp_path / 'cache2'}",
                 "--config.max_individuals=5")
  assert done.returncode == 0, done.stderr[-3000:]


# --- 6. any damage to the log -------------------------------------------------------
@pytest.mark.slow
@pytest.mark.parametrize("damage", [b"\xff\xfe{\"event\"\n", b"\x00" * 64 + b"\n",
                                    b"[1, 2]\n"])
def test_any_damage_to_the_log_is_one_line_then_repaired(wd, damage):
  data = (wd / "events.jsonl").read_bytes().splitlines(keepends=True)
  (wd / "events.jsonl").write_bytes(b"".join(data[:5] + [damage] + data[5:]))
  (wd / "results.json").unlink()
  before = checksums(wd)
  for cmd in ("resume", "report"):
    done = command(cmd, "--workdir", wd)
    one_line(done, 2, f"{wd}/events.jsonl:6", "evojax_nas repair")
  assert checksums(wd) == before
  done = command("repair", "--workdir", wd)
  assert done.returncode == 0, done.stderr
  assert "line 6" in done.stdout
  (aside,) = wd.glob("rejected-*")
  assert (aside / "events.jsonl").read_bytes() == b"".join([damage] + data[5:])
  done = command("resume", "--workdir", wd)
  assert done.returncode == 0, done.stderr[-3000:]


# --- 7. export --out where nothing can be written -----------------------------------
@pytest.mark.parametrize("out, says", [
    ("", "names no file"), ("{tmp}", "is a folder"),
    ("{tmp}/dir/", "names no file"), ("{tmp}/file/x.jaxexport", "is a file"),
    ("/proc/evojax/x.jaxexport", "cannot write")])
def test_export_to_where_it_cannot_write_is_one_line(wd, tmp_path, out, says):
  (tmp_path / "file").write_text("x")
  out = out.format(tmp=tmp_path)
  before = sorted(p.name for p in tmp_path.iterdir())
  done = command("export", "--workdir", wd, "--out", out)
  one_line(done, 2, "evojax_nas export: error:", says)
  assert sorted(p.name for p in tmp_path.iterdir()) == before


# --- 8 and 12a. the data cache --------------------------------------------------------
def test_a_data_cache_that_cannot_be_created_is_one_line(cifar10_dir,
                                                          tmp_path):
  (tmp_path / "file").write_text("x")
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir,
                         tmp_path / "file" / "cache", **SMALL)
  done = cli(f"--config={cfg}", f"--workdir={tmp_path / 'wd'}")
  one_line(done, 2, "cannot create the data cache folder",
           "data.cache_dir")


def test_an_interrupted_cache_write_leaves_no_temporary(cifar10_dir, tmp_path,
                                                        monkeypatch):
  from evojax_nas.train import data  # pylint: disable=g-import-not-at-top
  real = np.savez

  def savez_then_stop(f, **arrays):
    f.write(b"x" * 1000)
    raise KeyboardInterrupt
  monkeypatch.setattr(np, "savez", savez_then_stop)
  with pytest.raises(KeyboardInterrupt):
    data.load("cifar10", str(cifar10_dir), str(tmp_path / "cache"),
              val_size=100)
  assert not [p for p in (tmp_path / "cache").iterdir()
              if p.name.endswith(("tmp", ".npz"))]
  # One a SIGKILLed writer left (its pid is gone) goes at the next load.
  stale = tmp_path / "cache" / ".cifar10-x.npz.999999999.tmp"
  stale.write_bytes(b"x" * 1000)
  monkeypatch.setattr(np, "savez", real)
  data.load("cifar10", str(cifar10_dir), str(tmp_path / "cache"),
            val_size=100)
  assert not stale.exists()


# --- 9. the sweep's driver killed ---------------------------------------------------------
@pytest.mark.slow
def test_a_killed_sweep_driver_leaves_no_experiment_running(cifar10_dir,
                                                            tmp_path):
  from evojax_nas.runs import ownership  # pylint: disable=g-import-not-at-top
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=8)
  root = tmp_path / "sweep"
  args = [sys.executable, "-m", "evojax_nas.main", "sweep", f"--config={cfg}",
          "--grid", "population_size=3,4", f"--workdir={root}"]
  driver = subprocess.Popen(args, env=ENV, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
  first = root / "population_size=3" / "seed0"
  deadline = time.time() + 240
  while not ((first / "events.jsonl").is_file() and '"trained"' in (
      first / "events.jsonl").read_text()):
    assert time.time() < deadline and driver.poll() is None
    time.sleep(0.2)
  driver.kill()
  driver.wait()
  deadline = time.time() + 120
  while ownership.holder(first) is not None:  # the orphan stops by itself
    assert time.time() < deadline, "the experiment outlived its driver"
    time.sleep(0.5)
  assert "stopped (SIGTERM)" in (first / "run.log").read_text()
  done = subprocess.run(args, env=ENV,
                        capture_output=True, text=True, timeout=600,
                        check=False)
  assert done.returncode == 0, done.stderr[-3000:]


def test_a_sweep_waits_for_an_experiment_still_stopping(tmp_path, monkeypatch):
  from evojax_nas.runs import ownership, sweep  # pylint: disable=g-import-not-at-top
  held = iter(["pid 1", "pid 1", None])
  monkeypatch.setattr(ownership, "holder", lambda w: next(held))
  monkeypatch.setattr(time, "sleep", lambda s: None)
  assert sweep._wait_while_held(tmp_path, 60) is None  # pylint: disable=protected-access
  monkeypatch.setattr(ownership, "holder", lambda w: "pid 7")
  (tmp_path / "w").mkdir()
  assert sweep.run_point(str(tmp_path / "w"), wait_s=0) == 2
  assert "still in use by pid 7" in (tmp_path / "w" / "run.log").read_text()


# --- 11. a kept checkpoint of an unfinished run ---------------------------------------
def test_export_an_individual_of_an_unfinished_run(wd, tmp_path):
  import shutil  # pylint: disable=g-import-not-at-top
  shutil.rmtree(wd / "model")
  (wd / "results.json").unlink()
  kept = sorted(int(p.name) for p in (wd / "checkpoints").iterdir()
                if p.name.isdigit())
  done = command("export", "--workdir", wd, "--individual", kept[0], "--out",
                 tmp_path / "m.jaxexport")
  assert done.returncode == 0, done.stderr[-2000:]
  contract = json.loads((tmp_path / "m.jaxexport.json").read_text())
  assert contract["individuals"] == [kept[0]]
  assert len(contract["class_names"]) == 10


# --- 12. the rest ------------------------------------------------------------------------
def test_a_stopped_figure_leaves_no_truncated_png(tmp_path):
  import matplotlib  # pylint: disable=g-import-not-at-top
  matplotlib.use("Agg")
  from matplotlib import pyplot as plt  # pylint: disable=g-import-not-at-top
  from evojax_nas import files  # pylint: disable=g-import-not-at-top
  fig, ax = plt.subplots()
  ax.plot([1, 2])
  path = files.save_figure(fig, tmp_path / "a.png")
  good = path.read_bytes()

  class Stop:
    def savefig(self, f, **kwargs):
      Path(f).write_bytes(good[:100])
      raise KeyboardInterrupt("SIGTERM")
  with pytest.raises(KeyboardInterrupt):
    files.save_figure(Stop(), path)
  assert path.read_bytes() == good
  assert [p.name for p in tmp_path.iterdir()] == ["a.png"]


def test_a_config_whose_get_config_raises_says_why(tmp_path):
  (tmp_path / "c.py").write_text(
      "def get_config():\n  raise ValueError('set EVOJAX_POP first')\n")
  done = cli(f"--config={tmp_path / 'c.py'}", f"--workdir={tmp_path / 'wd'}")
  one_line(done, 2, "get_config() raised ValueError: set EVOJAX_POP first")


def test_a_mistyped_command_is_named_as_one():
  done = command("reprot", "--workdir", "x")
  one_line(done, 2, "unknown command 'reprot'", "did you mean 'report'?")


def test_sweeps_and_experiments_do_not_mix(wd, cifar10_dir, tmp_path):
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         **SMALL)
  before = checksums(wd)
  done = command("sweep", f"--config={cfg}", "--grid", "population_size=3",
                 f"--workdir={wd}")
  one_line(done, 2, "holds an experiment, not a sweep")
  assert checksums(wd) == before
  root = tmp_path / "sweep"
  root.mkdir()
  (root / "sweep.json").write_text("{}")
  for args in ((f"--config={cfg}", f"--workdir={root}"),
               ("resume", f"--workdir={root}")):
    done = command(*args)
    one_line(done, 2, "is a sweep's folder")
  assert sorted(p.name for p in root.iterdir()) == ["sweep.json"]


def test_a_sweep_plans_without_writing_and_makes_folders_as_it_goes(
    cifar10_dir, tmp_path, monkeypatch):
  from evojax_nas.runs import sweep  # pylint: disable=g-import-not-at-top
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         **SMALL)
  root = tmp_path / "sweep"
  done = command("sweep", f"--config={cfg}", "--grid",
                 "population_size=3,4,5", "--grid", "sample_size=2,3",
                 "--seeds=2", f"--workdir={root}", "--plan")
  assert done.returncode == 0, done.stderr
  assert "12 experiments (0 finished, 0 started, 12 new)" in done.stdout
  assert not root.exists()
  seen = []

  def run_point(w):
    seen.append(sorted(str(p.relative_to(root)) for p in root.rglob(
        "config.json")))
    return 0
  monkeypatch.setattr(sweep, "run_point", run_point)
  planned = sweep.plan(str(cfg), ["population_size=3,4"], 1)
  sweep.run(planned, root)
  assert seen == [["population_size=3/seed0/config.json"],
                  ["population_size=3/seed0/config.json",
                   "population_size=4/seed0/config.json"]]
