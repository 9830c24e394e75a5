"""Long runs: the compiled-network cache is bounded by memory mappings, and a
process near its limits recycles without changing the run's choices."""

import gc
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from evojax_nas import config as config_lib
from evojax_nas import run
from evojax_nas.compile import memory
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.runs.faults import check
from evojax_nas.genomes.dna import conv_chain

from conftest import write_cli_config

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.skipif(memory.mappings() is None,
                                reason="needs /proc (Linux)")


def events(workdir):
  return [json.loads(l) for l in (Path(workdir) / "events.jsonl").open()]


def trajectory(workdir):
  """Births (id, parent, mutation, signature), kills and results in order."""
  evs = events(workdir)
  return ([(e["id"], e["parent"], e["mutation"], e["signature"])
           for e in evs if e["event"] == "born"],
          [e["id"] for e in evs if e["event"] == "killed"],
          [(e["id"], e["val_accuracy"]) for e in evs
           if e["event"] == "trained"])


@pytest.mark.slow
def test_cache_evicts_by_mappings_not_by_count():
  """With room for 64 networks but a mapping budget a little above today's
  count, the cache keeps evicting (its two newest stay) and the process's
  mappings stay near the budget."""
  cfg = StepConfig(num_classes=10, batch_size=8, chunk_steps=1,
                   eval_batch_size=8)
  gc.collect()
  budget = memory.mappings() + 800
  cache = StepCache(cfg, max_networks=64, max_mappings=budget)
  counts = []
  for i in range(8):
    depth = 1 + i % 3
    cache.get(conv_chain(tuple(4 + i + j for j in range(depth)),
                         (1,) * depth)).precompile(32, 16)
    counts.append(memory.mappings())
  assert cache.evictions >= 3
  assert len(cache._networks) >= StepCache.MIN_NETWORKS
  assert max(counts) < budget + 1000  # one network's programs over at most


def test_watch_names_the_limit_it_crossed():
  low = memory.Watch(max_mappings=1, max_resident=None)
  assert "memory mappings" in low.over()
  assert "vm.max_map_count" in low.over()
  assert "resident" in memory.Watch(None, 1).over()
  assert memory.Watch(10**9, 2**62).over() is None


def _recycle_config(config):
  config.strategy = "random"  # a new architecture almost every child
  config.max_individuals = 7
  config.population_size = 3
  return config


@pytest.mark.slow
def test_recycled_run_makes_the_same_choices(tiny_config, tmp_path):
  """A threshold so low that every process recycles after one individual:
  a Python caller's run continues in child processes (`evojax_nas resume`,
  which re-execute themselves); births, kills and accuracies equal an
  uninterrupted run's, nothing lost or trained twice."""
  config = _recycle_config(tiny_config)
  run(config, tmp_path / "straight")
  config.resources.recycle_map_fraction = 1e-9
  results = run(config, tmp_path / "recycled")
  straight, recycled = (trajectory(tmp_path / "straight"),
                        trajectory(tmp_path / "recycled"))
  assert recycled == straight
  born, _, trained = recycled
  assert len(trained) == len({i for i, _ in trained}) == len(born) == 7
  evs = events(tmp_path / "recycled")
  recycles = [e for e in evs if e["event"] == "recycled"]
  assert len(recycles) == 6  # after each individual but the last
  assert all(e["trained_in_process"] == 1 and e["mappings"] > 0
             for e in recycles)
  assert len({e["pid"] for e in recycles}) == 2  # pytest's, then one child
  assert results["individuals"] == 7
  assert sum(e["event"] == "finished" for e in evs) == 1


@pytest.mark.slow
def test_command_line_run_reexecutes_itself(cifar10_dir, tmp_path):
  """`python -m evojax_nas.main` recycles by re-executing its own command:
  the same PID resumes from the log and finishes with one summary line."""
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         strategy="random", steps_per_individual=4,
                         max_individuals=4)
  wd = tmp_path / "wd"
  done = subprocess.run(
      [sys.executable, "-m", "evojax_nas.main", f"--config={cfg}",
       f"--workdir={wd}", "--config.resources.recycle_map_fraction=1e-9"],
      env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
      text=True, timeout=600, check=False)
  assert done.returncode == 0, done.stderr[-3000:]
  assert done.stdout.count("best individual") == 1
  assert done.stderr.count("recycling this process") == 3
  evs = events(wd)
  recycles = [e for e in evs if e["event"] == "recycled"]
  assert len(recycles) == 3 and len({e["pid"] for e in recycles}) == 1
  assert sorted(e["id"] for e in evs if e["event"] == "trained") == [0, 1, 2,
                                                                     3]


@pytest.mark.slow
def test_workers_recycle_between_individuals_and_lose_nothing(tiny_config,
                                                              tmp_path):
  """Two local workers that recycle after every individual they train:
  each re-executes itself (same name, same PID) holding no claim, and the
  population ends with every individual born and trained exactly once."""
  c = tiny_config
  c.num_workers = 2
  c.max_individuals = 8
  c.workers.heartbeat_s = 1.0
  c.workers.claim_timeout_s = 30.0
  c.resources.recycle_map_fraction = 1e-9
  wd = tmp_path / "wd"
  assert run(c, wd)["individuals"] == 8
  found = check(config_lib.validate(c), wd)
  assert found["trained"] == found["born"] == 8
  assert found["final_population"] == 3
  logs = "".join(p.read_text() for p in (wd / "logs").glob("*.log"))
  # How many recycles depends on how the two workers interleave; each
  # process trains before it may recycle, and each recycle starts one anew.
  recycles = logs.count("recycling the process")
  assert recycles >= 1
  assert logs.count(" started on ") == recycles + 2
  assert "Traceback" not in logs


@pytest.mark.slow
def test_recycled_genetic_run_makes_the_same_generations(
    tiny_genetic_config, tmp_path):
  """The generational loop recycles between members of a generation; its
  births and generation records equal an uninterrupted run's."""
  c = tiny_genetic_config
  c.population_size = 3
  c.max_generations = 1
  run(c, tmp_path / "straight")
  c.resources.recycle_map_fraction = 1e-9
  run(c, tmp_path / "recycled")
  generations = lambda wd: [(e["ids"], e["fitness"]) for e in events(wd)
                            if e["event"] == "generation"]
  assert trajectory(tmp_path / "recycled") == trajectory(
      tmp_path / "straight")
  assert generations(tmp_path / "recycled") == generations(
      tmp_path / "straight")
  assert len(generations(tmp_path / "straight")) == 2
  # Recycled within each generation of 3 (not after its last member).
  assert sum(e["event"] == "recycled"
             for e in events(tmp_path / "recycled")) == 4
