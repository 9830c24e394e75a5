"""Individuals per hour with 0 (in-process loop), 1, 2 and 4 workers.

  EVOJAX_NAS_DATA_DIR=../shared/data python benchmarks/workers_throughput.py \
      [--config configs/cifar10_demo.py] [--budget 240] [--workers 0 1 2 4]

Runs the config once per worker count, each in a fresh workdir under
--root, with `time_budget_s=--budget`, through the command line a user types
(`python -m evojax_nas.main ... --config.num_workers=N`), and prints one
table: individuals trained, wall seconds (process start to results.json,
including every worker's start-up), individuals per hour, the mean seconds
one individual's training took inside a worker (from the log), and the
experiment's FLOPs (sum of Ft*Nt + Fv*Nv) per wall second: what evolves
decides how big the individuals are, so compare both columns.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def one_run(config: str, workers: int, budget: float, workdir: Path) -> dict:
  cmd = [sys.executable, "-m", "evojax_nas.main", "--config", config,
         "--workdir", str(workdir), f"--config.num_workers={workers}",
         f"--config.time_budget_s={budget}", "--config.progress=False"]
  t0 = time.perf_counter()
  subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL,
                 stderr=subprocess.DEVNULL)
  wall = time.perf_counter() - t0
  results = json.loads((workdir / "results.json").read_text())
  trained = [json.loads(l) for l in
             (workdir / "events.jsonl").read_text().splitlines()]
  trained = [e for e in trained if e.get("event") == "trained"]
  n = results["individuals"]
  return {"workers": workers, "individuals": n, "wall_s": wall,
          "per_hour": 3600.0 * n / wall,
          "train_s": statistics.mean(e["wall_s"] for e in trained),
          "gflops": results["total_flops"] / wall / 1e9,
          "best_val": results["best"]["val_accuracy"]}


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--config", default="configs/cifar10_demo.py")
  p.add_argument("--budget", type=float, default=240.0)
  p.add_argument("--workers", type=int, nargs="+", default=[0, 1, 2, 4])
  p.add_argument("--root", default=None, help="parent of the workdirs")
  args = p.parse_args()
  root = Path(args.root or tempfile.mkdtemp(prefix="evojax_nas_workers_"))
  print(f"{os.cpu_count()} CPUs; {args.config}, time budget {args.budget:.0f}"
        f" s per run; workdirs in {root}")
  rows = []
  for n in args.workers:
    rows.append(one_run(args.config, n, args.budget, root / f"workers_{n}"))
    print(f"  {n} workers: {rows[-1]['individuals']} individuals",
          file=sys.stderr, flush=True)
  base = next((r["per_hour"] for r in rows if r["workers"] == 1), None)
  print("| workers | individuals | wall s | individuals / hour | vs 1 worker "
        "| s per individual (in a worker) | training GFLOP/s | best val |")
  print("|---|---|---|---|---|---|---|---|")
  for r in rows:
    label = "0 (in-process loop)" if r["workers"] == 0 else r["workers"]
    ratio = f"{r['per_hour'] / base:.2f}" if base else "-"
    print(f"| {label} | {r['individuals']} | {r['wall_s']:.0f} | "
          f"{r['per_hour']:.0f} | {ratio} | {r['train_s']:.1f} | "
          f"{r['gflops']:.1f} | {r['best_val']:.4f} |")

if __name__ == "__main__":
  main()
