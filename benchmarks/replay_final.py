"""A finished run's final stage replayed, with or without a race.

  python benchmarks/replay_final.py WORKDIR OUT [--candidates K] [--race_fraction F]

Copies WORKDIR's search (its log, config, kept checkpoints; not its
`retrained/`, compile cache or TensorBoard files) to OUT and runs the final
stage there (`runs/final.py: final`) for the time the run had left (its
`time_budget_s` less the search's wall time), with `final.candidates = K`
and `final.race_fraction = F`: the same search, another final stage. Prints
the race and the model handed back. Run it with the machine otherwise idle:
the race and the final stage are timed.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

from evojax_nas import config as config_lib
from evojax_nas.runs.final import final
from evojax_nas.workdir import read_results


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("workdir", type=Path)
  p.add_argument("out", type=Path)
  p.add_argument("--candidates", type=int, default=1)
  p.add_argument("--race_fraction", type=float, default=0.25)
  a = p.parse_args()
  logging.basicConfig(level=logging.WARNING)
  logging.getLogger("evojax_nas").setLevel(logging.INFO)
  shutil.copytree(a.workdir, a.out, ignore=shutil.ignore_patterns(
      "retrained", "lock", "tensorboard", "compile_cache"))
  results = read_results(a.out)
  results.pop("final", None)
  c = config_lib.from_workdir(a.out)
  c.final.candidates, c.final.race_fraction = a.candidates, a.race_fraction
  t = time.perf_counter()
  f = final(config_lib.validate(c), a.out, results)["final"]
  print("| candidate | searched val | race val | race steps | planned steps |"
        " seconds |\n|---|---|---|---|---|---|")
  for e in (f["race"] or {}).get("candidates", []):
    print(f"| {e['id']} | {e['search_val_accuracy']:.4f} | "
          f"{e['val_accuracy']:.4f} | {e['step']} | {e['steps']} | "
          f"{e['seconds']} |")
  r = f["retrain"]
  print(f"\nhanded back: individual {r['individual']}, test "
        f"{r['test_accuracy']:.4f} (val {r['val_accuracy']:.4f}), "
        f"{r['steps']} steps = {r['epochs']} epochs; final stage "
        f"{time.perf_counter() - t:.0f} s")
  print(json.dumps(f["retrain"]["scale"]))


if __name__ == "__main__":
  main()
