"""Soak: over a thousand distinct architectures in one experiment.

  EVOJAX_NAS_DATA_DIR=../shared/data python benchmarks/soak.py \
      [--architectures 1000] [--every 100] [--workdir DIR] [--set KEY=VALUE]

Runs the demo's random-search control (a new architecture almost every
child) shrunk to tiny individuals (2 SGD steps on 1,000 images, structural
mutations only, so nearly every child is a new architecture) through the
command line a user types, and watches the process from outside: every
`--every` trained individuals one row with the distinct architectures so
far, the process's memory mappings (now and the peak since the last row, of
/proc/PID/maps; a recycle keeps the PID), resident memory, individuals per
minute over the window, the compiled-network cache's evictions and the
recycles. If the budget ends with fewer distinct architectures than asked,
the same experiment is resumed with a larger budget (`max_individuals` may
change on resume). Linux only.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "cifar10_demo_random.py"
# Structural mutations only: a child's architecture differs from its parent's.
MUTATIONS = {"insert_convolution": 1.0, "remove_convolution": 1.2,
             "alter_number_of_channels": 1.0, "filter_size": 1.0,
             "alter_stride": 1.0, "add_skip": 0.5, "remove_skip": 0.5,
             "insert_one_to_one": 0.5, "identity": 0.0,
             "alter_learning_rate": 0.0, "reset_weights": 0.0}
SETTINGS = {"steps_per_individual": 2, "train.chunk_steps": 2,
            "population_size": 20, "mutations_per_child": 1,
            "time_budget_s": 0.0, "data.train_size": 1000,
            "data.val_size": 500, "train.eval_batch_size": 500,
            "evaluate_test": "none", "tensorboard": False, "progress": False,
            **{f"mutations.{k}": v for k, v in MUTATIONS.items()}}


def _proc(pid: int) -> tuple[int, int] | None:
  """(mappings, resident MiB) of process `pid`, None once it is gone."""
  try:
    with open(f"/proc/{pid}/maps", "rb") as f:
      maps = f.read().count(b"\n")
    with open(f"/proc/{pid}/statm", encoding="ascii") as f:
      rss = int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") // 2**20
    return maps, rss
  except (OSError, ValueError, IndexError):
    return None


class LogTail:
  """Reads events.jsonl as it grows."""

  def __init__(self, path: Path):
    self.path, self.offset, self.partial = path, 0, b""

  def new_events(self) -> list[dict]:
    if not self.path.exists():
      return []
    with open(self.path, "rb") as f:
      f.seek(self.offset)
      data = f.read()
    self.offset += len(data)
    lines = (self.partial + data).split(b"\n")
    self.partial = lines.pop()
    return [json.loads(l) for l in lines if l.strip()]


def soak(workdir: Path, architectures: int, every: int, overrides: list[str]):
  tail = LogTail(workdir / "events.jsonl")
  seen, trained, recycles, evictions = set(), 0, 0, 0
  window = {"maps": 0, "rss": 0, "t": time.time(), "n": 0}
  budget = math.ceil(architectures * 1.25)
  header = (f"{'trained':>8} {'distinct':>8} {'maps':>7} {'peak maps':>9} "
            f"{'RSS MiB':>8} {'peak RSS':>8} {'indiv/min':>9} "
            f"{'evictions':>9} {'recycles':>8}")
  print(header, flush=True)
  while True:
    cmd = [sys.executable, "-m", "evojax_nas.main", f"--config={CONFIG}",
           f"--workdir={workdir}", f"--config.max_individuals={budget}",
           *[f"--config.{k}={v}" for k, v in SETTINGS.items()],
           *[f"--config.{o}" for o in overrides]]
    with open(workdir.parent / f"{workdir.name}.log", "ab") as out:
      proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    while True:
      done = proc.poll() is not None
      sample = _proc(proc.pid)
      if sample:
        window["maps"] = max(window["maps"], sample[0])
        window["rss"] = max(window["rss"], sample[1])
      for e in tail.new_events():
        if e["event"] == "recycled":
          recycles += 1
        if e["event"] != "trained":
          continue
        trained += 1
        seen.add(e["signature"])
        evictions = e["compile_cache"].get("evictions", 0)
        if trained % every == 0:
          now = time.time()
          rate = 60 * (trained - window["n"]) / (now - window["t"])
          maps, rss = sample or (0, 0)
          print(f"{trained:>8} {len(seen):>8} {maps:>7} {window['maps']:>9} "
                f"{rss:>8} {window['rss']:>8} {rate:>9.1f} {evictions:>9} "
                f"{recycles:>8}", flush=True)
          window = {"maps": 0, "rss": 0, "t": now, "n": trained}
      if done:
        break
      time.sleep(1.0)
    if proc.returncode != 0:
      sys.exit(f"the run failed (exit {proc.returncode}); see "
               f"{workdir.parent / (workdir.name + '.log')}")
    if len(seen) >= architectures:
      break
    budget += math.ceil((architectures - len(seen)) * 1.3)  # resume, larger
  print(f"{trained} individuals, {len(seen)} distinct architectures, "
        f"{recycles} recycles; log {workdir.parent / (workdir.name + '.log')}")


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--architectures", type=int, default=1000)
  p.add_argument("--every", type=int, default=100)
  p.add_argument("--workdir", default="")
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="more config overrides, e.g. "
                      "resources.cache_map_fraction=0.2")
  args = p.parse_args()
  workdir = Path(args.workdir or tempfile.mkdtemp(prefix="soak_")) / "run"
  workdir.parent.mkdir(parents=True, exist_ok=True)
  soak(workdir, args.architectures, args.every, args.set)


if __name__ == "__main__":
  main()
