"""Every strategy of the engine on the NAS-Bench-201 yardstick.

  python benchmarks/nasbench201.py --table shared/data/nasbench201/nb201_cifar.csv \
      --dataset cifar10 --runs 100 --budget 12000 --json OUT.json
  python benchmarks/nasbench201.py --table ... --objectives accuracy,flops \
      --strategies aging,random_search

Runs aging evolution, tournament evolution, the non-aging control, the
genetic algorithm, the 2017 random control and uniform random search for
`--runs` seeds each (the same seeds for every strategy) under the benchmark's
protocol (search/table.py), and prints the mean ± std test accuracy of the
chosen architectures next to the published numbers, then the mean
best-so-far test accuracy against simulated time. With `--objectives
accuracy,COST` the multi-objective variants run as well, and a second table
gives the hypervolume of each search's front in test accuracy vs COST.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
import time

import numpy as np

from evojax_nas.nasbench import TableError, load_table
from evojax_nas.nasbench.costs import COSTS
from evojax_nas.strategies import MULTI_OBJECTIVE, WITH_REPLACEMENT
from evojax_nas.nasbench.search import SEARCHES, SearchConfig, run_searches

# Test accuracy (%) of the architecture chosen by validation, NAS-Bench-201
# paper (Dong & Yang 2020, table 5: 12,000 s budget, 12-epoch reward).
PUBLISHED = {
    "cifar10": {"aging": (93.92, 0.30), "random_search": (93.70, 0.36)},
    "cifar100": {"aging": (71.84, 0.99), "random_search": (71.04, 1.07)},
    "imagenet16-120": {"aging": (45.54, 1.03),
                       "random_search": (44.57, 1.25)},
}
UNITS = {"flops": "MFLOPs", "params": "M parameters"}
DEFAULT = ("aging", "tournament", "kill_worst", "genetic", "random",
           "random_search")


def parse_args(argv):
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--table", required=True,
                 help="the CSV table, or nats_bench:<dir> for the official "
                      "NATS-Bench files")
  p.add_argument("--dataset", default="cifar10",
                 choices=("cifar10", "cifar100", "imagenet16-120"))
  p.add_argument("--runs", type=int, default=100)
  p.add_argument("--budget", type=float, default=12000.0,
                 help="simulated seconds per search")
  p.add_argument("--strategies", default=",".join(DEFAULT),
                 help=f"comma list from {list(SEARCHES)}")
  p.add_argument("--population", type=int, default=10)
  p.add_argument("--sample", type=int, default=3)
  p.add_argument("--sample_replacement", default="auto",
                 choices=("auto", "with", "without"),
                 help="auto: with replacement for aging and kill_worst "
                      "(Real et al. 2018, Algorithm 1)")
  p.add_argument("--objectives", default="accuracy",
                 help="'accuracy', or followed by one cost (flops or "
                      "params): each strategy with a multi-objective variant "
                      "runs it too, and the table adds the hypervolume of "
                      "each search's front (test accuracy vs the cost)")
  p.add_argument("--objective_mode", default="pareto",
                 choices=("pareto", "constrained"))
  p.add_argument("--cost_budget", type=float, default=0.0,
                 help="constrained mode: the cost's budget (MFLOPs or M "
                      "parameters)")
  p.add_argument("--seed", type=int, default=0, help="first seed")
  p.add_argument("--json", default="", help="write the results here")
  args = p.parse_args(argv)
  args.strategies = [s.strip() for s in args.strategies.split(",") if s]
  args.objectives = tuple(o.strip() for o in args.objectives.split(",") if o)
  if args.objectives[:1] != ("accuracy",) or len(args.objectives) > 2 or not (
      set(args.objectives[1:]) <= set(COSTS)):
    p.error(f"--objectives must be 'accuracy' or 'accuracy,COST' with COST "
            f"from {list(COSTS)}, got {','.join(args.objectives)!r}")
  bad = [s for s in args.strategies if s not in SEARCHES]
  if bad:
    p.error(f"unknown strategies {bad}; valid choices: {list(SEARCHES)}")
  return args


def main(argv=None) -> dict:
  args = parse_args(sys.argv[1:] if argv is None else argv)
  try:
    table = load_table(args.table, args.dataset)
  except TableError as err:
    raise SystemExit(f"error: {err}") from None
  seeds = np.arange(args.seed, args.seed + args.runs)
  times = np.linspace(0, args.budget, 7)[1:]
  results, published = {}, PUBLISHED.get(args.dataset, {})
  costs = args.objectives[1:]
  runs = [(name, ("accuracy",)) for name in args.strategies]
  if costs:  # the multi-objective variants first
    runs = [(name, args.objectives) for name in args.strategies
            if name in MULTI_OBJECTIVE] + runs
  for name, objectives in runs:
    replacement = (args.sample_replacement if name in WITH_REPLACEMENT
                   else "auto")  # the others' samples have one kind
    cfg = SearchConfig(strategy=name, population_size=args.population,
                       sample_size=args.sample, budget_s=args.budget,
                       sample_replacement=replacement, objectives=objectives,
                       objective_mode=args.objective_mode,
                       cost_budget=args.cost_budget)
    t0 = time.perf_counter()
    hist = run_searches(cfg, table, seeds)
    acc = table.test200[hist.chosen()].astype(np.float64)
    curve = np.nanmean(hist.best_so_far(table, times), axis=0)
    label = (f"{name} ({args.objective_mode}: {costs[0]})"
             if len(objectives) > 1 else name)
    results[label] = {
        "mean": round(float(acc.mean()), 3), "std": round(float(acc.std()), 3),
        "runs": int(len(acc)),
        "evaluations_mean": round(float(hist.count.mean()), 1),
        "best_so_far": {f"{t:.0f}": round(float(c), 3)
                        for t, c in zip(times, curve)},
        "seconds": round(time.perf_counter() - t0, 2),
        "dataset": args.dataset, "config": dataclasses.asdict(cfg)}
    if costs:
      hv = 100.0 * hist.hypervolumes(table, costs[0])
      results[label]["hypervolume"] = {"mean": round(float(hv.mean()), 3),
                                       "std": round(float(hv.std()), 3)}
    if name in published and len(objectives) == 1:
      results[label]["published"] = {"mean": published[name][0],
                                     "std": published[name][1]}

  print(f"NAS-Bench-201 {args.dataset}: {args.runs} runs, budget "
        f"{args.budget:.0f} s, population {args.population}, sample "
        f"{args.sample} ({args.sample_replacement} replacement); best cell in "
        f"the table {table.best_test:.2f} %")
  print("| strategy | test acc. % (mean ± std) | published | evaluations "
        "| best-so-far at " + " / ".join(f"{t:.0f}" for t in times) + " s |")
  print("|---|---|---|---|---|")
  for name, r in results.items():
    pub = r.get("published")
    pub = f"{pub['mean']:.2f} ± {pub['std']:.2f}" if pub else "-"
    curve = " / ".join(f"{v:.2f}" for v in r["best_so_far"].values())
    print(f"| {name} | {r['mean']:.2f} ± {r['std']:.2f} | {pub} | "
          f"{r['evaluations_mean']:.0f} | {curve} |")
  if costs:
    top = table.costs()[costs[0]].max()
    print(f"\nHypervolume of each search's front (its evaluated cells that "
          f"none beats on 12-epoch validation accuracy and {costs[0]}), in "
          f"200-epoch test accuracy vs {costs[0]}: % of the box from the "
          f"reference point (0 % accuracy, {top:.2f} {UNITS[costs[0]]}, the "
          "space's largest) to (100 %, 0)")
    print("| strategy | hypervolume % (mean ± std) | test acc. % of the most "
          "accurate |")
    print("|---|---|---|")
    for name, r in results.items():
      print(f"| {name} | {r['hypervolume']['mean']:.2f} ± "
            f"{r['hypervolume']['std']:.2f} | {r['mean']:.2f} ± "
            f"{r['std']:.2f} |")
  if args.json:
    with open(args.json, "w") as f:
      json.dump(results, f, indent=1)
  return results


if __name__ == "__main__":
  main()
