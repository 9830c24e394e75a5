"""One command-line framework: every command answers --help, takes
--config.KEY=VALUE where it has a config (and says so where it has none),
and ends a command line that does not parse with one line."""

import importlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from evojax_nas import run
from evojax_nas.main import COMMANDS

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_answers_help(name, capsys):
  command = importlib.import_module(f"evojax_nas.commands.{name}")
  with pytest.raises(SystemExit) as done:
    command.main(["--help"])
  assert done.value.code == 0
  out = capsys.readouterr().out
  assert out.startswith("usage: evojax_nas") and "--[no]debug" in out


@pytest.mark.parametrize("name", ["report", "export", "repair"])
def test_commands_without_a_config_say_so(name, capsys):
  command = importlib.import_module(f"evojax_nas.commands.{name}")
  with pytest.raises(SystemExit) as done:
    command.main(["--workdir=/tmp/x", "--out=/tmp/y", "--config.seed=1"])
  assert done.value.code == 2
  assert capsys.readouterr().err.strip() == (
      f"evojax_nas {name}: error: this command takes no config "
      "(--config.KEY=VALUE): it reads a finished experiment's directory")


@pytest.mark.parametrize("name", ["run", "sweep", "faults", "resume",
                                  "worker", "flops", "retrain"])
def test_an_unknown_config_key_is_one_line_everywhere(name, capsys):
  command = importlib.import_module(f"evojax_nas.commands.{name}")
  argv = ["--workdir=/tmp/x", "--genome=g.json", "--grid=seed=1",
          "--config.popsize=3"]
  if name in ("run", "sweep", "faults"):
    argv.append(f"--config={ROOT / 'configs' / 'cifar10_demo.py'}")
  with pytest.raises(SystemExit) as done:
    command.main(argv)
  assert done.value.code == 2
  err = capsys.readouterr().err.strip()
  assert err.endswith("unknown config key --config.popsize; did you mean "
                      "--config.population_size? the keys are those of "
                      "evojax_nas.config.default_config()"), err


def test_flops_overrides_the_defaults(tmp_path, capsys):
  from evojax_nas.commands import flops
  from evojax_nas.genomes import dna
  path = tmp_path / "genome.json"
  path.write_text(json.dumps(dna.trivial(0.1).to_json()))
  params = {}
  for name in ("cifar10", "cifar100"):
    assert flops.main([f"--genome={path}", "--json",
                       f"--config.data.name={name}",
                       "--config.train.batch_size=8"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["batch_size"] == 8
    params[name] = r["params"]
  # The classifier of the trivial model: (3 + 1) weights per class.
  assert params["cifar100"] - params["cifar10"] == 90 * 4


@pytest.mark.slow
def test_resume_extends_a_finished_run_with_a_config_override(tiny_config,
                                                              tmp_path):
  tiny_config.tensorboard = False
  run(tiny_config, tmp_path / "wd")
  done = subprocess.run(
      [sys.executable, "-m", "evojax_nas", "resume",
       f"--workdir={tmp_path / 'wd'}", "--config.max_individuals=8"],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert done.returncode == 0, done.stderr[-3000:]
  results = json.loads((tmp_path / "wd" / "results.json").read_text())
  assert results["individuals"] == 8
  refused = subprocess.run(
      [sys.executable, "-m", "evojax_nas", "resume",
       f"--workdir={tmp_path / 'wd'}", "--config.population_size=5"],
      capture_output=True, text=True, timeout=300, cwd=ROOT)
  assert refused.returncode == 2
  assert "holds an experiment with population_size=3, not 5" in (
      refused.stderr.strip().splitlines()[-1])
