"""Same science everywhere: the in-process run and a worker are one loop on
two population backends, so a budget means the same in both; and the
experiment clock skips the downtime between a SIGKILL and the restart, as
docs/design.md ("Budgets and the clock") says."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from evojax_nas.runs import launch
from evojax_nas.runs.dispatch import run
from evojax_nas.evolution.population import LogPopulation, StorePopulation
from evojax_nas.evolution.store import read_events
from evojax_nas.runs.worker import Worker

from conftest import write_cli_config

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=str(ROOT))

BUDGETS = {
    "max_individuals": ({"max_individuals": 7}, 7),
    # 60 steps of 8 per individual: 7 fit whole, an 8th would not.
    "max_steps": ({"max_steps": 60}, 7),
    # On a clock that advances one second per trained individual: child k
    # is born (ahead) when k - 1 have trained, so 0..6 are born before 5.5.
    "time_budget_s": ({"time_budget_s": 5.5}, 7),
}


@pytest.fixture
def one_second_per_individual(monkeypatch, fitness_from_signature):
  """Both backends' clocks read a fake time: one second per published
  result (an evaluation runs on a slot's thread; its result is published
  in order on the loop's)."""
  calls = fitness_from_signature
  monkeypatch.setattr(LogPopulation, "now",
                      lambda self: float(len(self.history.trained)))
  monkeypatch.setattr(StorePopulation, "now", lambda self: float(sum(
      r.trained is not None for r in self.store.records().values())))
  return calls


def trained_in_process(config, workdir) -> int:
  run(config, workdir)
  return sum(json.loads(l)["event"] == "trained"
             for l in (workdir / "events.jsonl").open())


def trained_by_one_worker(config, workdir) -> int:
  config.num_workers = 1
  with launch.start(config, workdir) as started:
    # In this process: the same fake clock.
    Worker(started.config, started.workdir, "w0").run()
  return sum(e["event"] == "trained"
             for e in read_events(workdir / "population"))


@pytest.mark.parametrize("kind", sorted(BUDGETS))
def test_a_budget_trains_as_many_in_process_as_with_a_worker(
    kind, tiny_config, one_second_per_individual, tmp_path):
  calls = one_second_per_individual
  fields, expected = BUDGETS[kind]
  tiny_config.max_individuals = 0
  tiny_config.tensorboard = False
  for k, v in fields.items():
    setattr(tiny_config, k, v)
  in_process = trained_in_process(tiny_config.copy_and_resolve_references(),
                                  tmp_path / "in_process")
  calls.clear()  # the worker's experiment starts at 0 s too
  worker = trained_by_one_worker(tiny_config, tmp_path / "worker")
  assert in_process == worker == expected


# Generations of 4 on the same clock: a generation is born only if its last
# member fits (the steady-state rule), so generation 2 (ids 8-11) does not.
GENERATION_BUDGETS = {"max_individuals": {"max_individuals": 11},
                      "max_steps": {"max_steps": 95},
                      "time_budget_s": {"time_budget_s": 8.0}}


@pytest.mark.parametrize("kind", sorted(GENERATION_BUDGETS))
def test_a_generation_is_born_only_if_it_fits_whole(
    kind, tiny_genetic_config, one_second_per_individual, tmp_path):
  del one_second_per_individual
  c = tiny_genetic_config
  c.max_generations, c.tensorboard = 0, False
  for k, v in GENERATION_BUDGETS[kind].items():
    setattr(c, k, v)
  assert trained_in_process(c, tmp_path / "wd") == 8


def _start(cmd) -> subprocess.Popen:
  return subprocess.Popen(cmd, env=ENV, stdout=subprocess.DEVNULL,
                          stderr=subprocess.PIPE, text=True,
                          start_new_session=True)


def _children(pid: int) -> list[int]:
  """The processes whose parent is `pid` (from /proc)."""
  out = []
  for stat in Path("/proc").glob("[0-9]*/stat"):
    try:
      fields = stat.read_text().rsplit(")", 1)[1].split()
    except OSError:
      continue  # gone meanwhile
    if int(fields[1]) == pid:
      out.append(int(stat.parent.name))
  return out


def _kill_all(proc):
  """SIGKILL to `proc`'s process group and to each of its children's (the
  workers run in sessions of their own): nothing stops gracefully."""
  children = _children(proc.pid)
  os.killpg(proc.pid, signal.SIGKILL)
  for pid in children:
    try:
      os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
      pass


def _wait_for(predicate, proc, timeout_s=240):
  deadline = time.time() + timeout_s
  while not predicate():
    assert proc.poll() is None, proc.stderr.read()[-3000:]
    assert time.time() < deadline
    time.sleep(0.1)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [0, 1])
def test_downtime_between_sigkill_and_restart_does_not_count(
    workers, cifar10_dir, tmp_path):
  """SIGKILL (the launcher and its workers), 6 s of downtime, restart:
  the clock goes on from the last record."""
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         steps_per_individual=8, max_individuals=5,
                         num_workers=workers)
  wd = tmp_path / "wd"
  cmd = [sys.executable, "-m", "evojax_nas.main", f"--config={cfg}",
         f"--workdir={wd}"]
  if workers:
    records = lambda: read_events(wd / "population")[1:]  # not `started`
  else:
    records = lambda: [json.loads(l) for l in (wd / "events.jsonl").open()]
  first = _start(cmd)
  trained = lambda: sum(e["event"] == "trained" for e in records())
  _wait_for(lambda: (wd / "population" if workers else wd / "events.jsonl"
                     ).exists() and trained() >= 2, first)
  _kill_all(first)
  first.wait()
  killed_at = time.time()
  before = records()
  last_t = max(float(e["t"]) for e in before)
  time.sleep(6.0)
  second = _start(cmd)
  _, err = second.communicate(timeout=300)
  assert second.returncode == 0, err[-3000:]
  downtime = time.time() - killed_at
  after = [e for e in records() if e not in before]
  first_t = min(float(e["t"]) for e in after if e["event"] != "finished")
  assert first_t >= last_t
  if workers:
    # A worker's setup (data, compiling) counts: the clock ran on from the
    # last record, the 6 s of downtime did not.
    origin = json.loads((wd / "population" / "experiment.json").read_text())
    assert time.time() - origin["origin"] < downtime + last_t - 3.0
  else:
    started = [e for e in after if e["event"] == "started"]
    assert started and float(started[0]["t"]) - last_t < 1.0
  assert trained() == 5
