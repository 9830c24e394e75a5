"""One experiment directory, one owner: a second start is refused with one
line naming the holder and writes nothing; workers never join an in-process
experiment."""

import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evojax_nas import config as config_lib
from evojax_nas import run

from conftest import write_cli_config

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def checksums(folder: Path) -> dict[str, str]:
  return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
          for p in sorted(folder.rglob("*")) if p.is_file()}


def events(workdir):
  return [json.loads(l) for l in (Path(workdir) / "events.jsonl").open()]


HOLD = """
import sys, time
from evojax_nas.runs import ownership
ownership.acquire(sys.argv[1], "an in-process run")
print("held", flush=True)
time.sleep(120)
"""


@pytest.mark.slow
def test_second_start_is_refused_and_writes_nothing(tiny_config, tmp_path):
  wd = tmp_path / "wd"
  run(tiny_config, wd)
  holder = subprocess.Popen([sys.executable, "-c", HOLD, str(wd)], env=ENV,
                            stdout=subprocess.PIPE, text=True)
  try:
    assert holder.stdout.readline().strip() == "held"
    before = checksums(wd)
    tiny_config.max_individuals = 9  # a budget change would resume it
    with pytest.raises(config_lib.ConfigError,
                       match=rf"is in use by an in-process run on host \S+, "
                             rf"pid {holder.pid}, since 20"):
      run(tiny_config, wd)
    assert checksums(wd) == before
  finally:
    holder.kill()
    holder.wait()
  # The holder died (SIGKILL): the OS released its lock, the run resumes.
  assert run(tiny_config, wd)["individuals"] == 9


@pytest.mark.slow
def test_two_command_line_starts_one_refused_one_finishes(cifar10_dir,
                                                          tmp_path):
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=12)
  wd = tmp_path / "wd"
  cmd = [sys.executable, "-m", "evojax_nas.main", f"--config={cfg}",
         f"--workdir={wd}"]
  first = subprocess.Popen(cmd, env=ENV, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True)
  deadline = time.time() + 240
  while not ((wd / "events.jsonl").exists()
             and '"born"' in (wd / "events.jsonl").read_text()):
    assert time.time() < deadline and first.poll() is None
    time.sleep(0.1)
  second = subprocess.run(cmd, env=ENV, capture_output=True, text=True,
                          timeout=240, check=False)
  assert second.returncode == 2
  lines = second.stderr.strip().splitlines()
  assert len(lines) == 1 and lines[0].startswith("evojax_nas: error: ")
  assert "in use by an in-process run on host" in lines[0]
  assert f"pid {first.pid}" in lines[0]
  out, err = first.communicate(timeout=400)
  assert first.returncode == 0, err[-2000:]
  evs = events(wd)
  assert sum(e["event"] == "started" for e in evs) == 1
  trained = [e["id"] for e in evs if e["event"] == "trained"]
  born = [e["id"] for e in evs if e["event"] == "born"]
  assert sorted(trained) == sorted(set(born)) == list(range(12))
  assert "best individual" in out


@pytest.mark.slow
def test_worker_refuses_an_in_process_workdir(tiny_config, tmp_path):
  wd = tmp_path / "wd"
  run(tiny_config, wd)
  before = checksums(wd)
  done = subprocess.run(
      [sys.executable, "-m", "evojax_nas.main", "worker", "--workdir",
       str(wd)], env=ENV, capture_output=True, text=True, timeout=120,
      check=False)
  assert done.returncode == 2
  lines = done.stderr.strip().splitlines()
  assert len(lines) == 1 and "holds an in-process experiment" in lines[0]
  assert checksums(wd) == before
  assert not (wd / "population").exists()
