"""The report of a sweep folder (`evojax_nas sweep`): Real et al. 2017's
figure 3 for whatever was swept.

  * final test accuracy against each grid point: every experiment a circle
    (the test accuracy of the individual with the highest validation
    accuracy at the end, from its results.json), the mean ± std over seeds
    a bar;
  * best-so-far test accuracy against the training steps spent so far (the
    experiments of a sweep share a compute budget, not a wall time), the
    seeds of a grid point drawn as mean ± 2σ;
  * every individual of one experiment per grid point (its first seed):
    validation accuracy against training steps, with the span of a raised
    mutation rate and each weight reset marked (figure 4);
  * a table per grid point: seeds finished, final test accuracy mean ± std,
    best validation accuracy, individuals trained.
Reads only the folders, so it can run while the sweep is going.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from evojax_nas import files
from evojax_nas.reports import report
from evojax_nas.workdir import (EVENTS, REPORT, SWEEP, SWEEP_STATS,
                                 read_sweep_plan)


def points(root: Path, plan: dict) -> list[dict]:
  """One row per grid point of `plan`: its values, and per seed the final
  result (None while running) and the run itself (None before it started)."""
  rows = {}
  for p in plan["points"]:
    row = rows.setdefault(p["name"], {"name": p["name"],
                                      "values": p["values"], "seeds": []})
    w = root / p["workdir"]
    run = None
    if (w / EVENTS).is_file():
      run = report.read_run(w)
      run.label = p["name"]
    row["seeds"].append({"seed": p["seed"], "run": run,
                         "results": run.results if run else None})
  return list(rows.values())


def _stats(row: dict) -> dict:
  done = [s["results"] for s in row["seeds"] if s["results"]]
  test = np.asarray([r["best"]["test_accuracy"] for r in done])
  val = np.asarray([r["best"]["val_accuracy"] for r in done])
  return {"point": row["name"], "finished": f"{len(done)} of "
          f"{len(row['seeds'])}",
          "test_mean": float(test.mean()) if len(done) else None,
          "test_std": float(test.std()) if len(done) else None,
          "val_mean": float(val.mean()) if len(done) else None,
          "individuals": (float(np.mean([r["individuals"] for r in done]))
                          if done else None)}


def _axis(rows: list[dict]):
  """x positions and tick labels: the values of a single numeric key (log
  scale if they span 10× or more), else the grid points in order."""
  keys = list(rows[0]["values"]) if rows else []
  values = [r["values"][keys[0]] for r in rows] if len(keys) == 1 else []
  if values and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                    for v in values):
    log = min(values) > 0 and max(values) >= 10 * min(values)
    return np.asarray(values, float), None, keys[0], log
  return (np.arange(len(rows), dtype=float),
          [r["name"].replace(",", "\n") for r in rows], " × ".join(keys),
          False)


def plot_final(rows: list[dict], path: Path) -> Path:
  fig, ax = report.figure()
  x, ticks, label, log = _axis(rows)
  for xi, row in zip(x, rows):
    test = [s["results"]["best"]["test_accuracy"] for s in row["seeds"]
            if s["results"]]
    if not test:
      continue
    ax.scatter([xi] * len(test), test, s=30, facecolors="none",
               edgecolors="#1f77b4", zorder=3)
    ax.errorbar([xi], [np.mean(test)], yerr=[np.std(test)], fmt="_",
                markersize=16, color="#d62728", capsize=5, zorder=4)
  if log:
    ax.set_xscale("log")
    ax.minorticks_off()
  if ticks is not None:
    ax.set_xticks(x)
    ax.set_xticklabels(ticks, fontsize=8)
  else:
    ax.set_xticks(x)
    ax.set_xticklabels([f"{v:g}" for v in x])
  ax.set_xlabel(label)
  ax.set_ylabel("final test accuracy (best by validation)")
  ax.set_title("each circle one experiment; bars: mean ± std over seeds")
  ax.grid(alpha=0.3)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=90)
  return path


def build(root: str | Path, out_dir: str | Path | None = None) -> Path:
  """Writes `<root>/report/index.html` (or `out_dir`) for a sweep folder."""
  root = Path(root)
  out = Path(out_dir) if out_dir else root / REPORT
  out.mkdir(parents=True, exist_ok=True)
  plan = read_sweep_plan(root)
  if plan is None:
    raise report.ReportError(f"{root} has no {SWEEP}: not a sweep folder")
  rows = points(root, plan)
  stats = [_stats(r) for r in rows]
  grid = "; ".join(f"{k} = {', '.join(json.dumps(v) for v in vs)}"
                   for k, vs in plan["grid"].items())
  overrides = " ".join(plan["overrides"])
  parts = [f"<h1>evojax-nas sweep: {html.escape(str(root))}</h1>",
           f"<p>config <code>{html.escape(plan['config_file'])}</code>"
           f"{' with ' + html.escape(overrides) if overrides else ''}"
           f"; grid {html.escape(grid)}</p>"]
  parts.append("<h2>Final test accuracy</h2>" + report.img_tag(
      plot_final(rows, out / "final.png"), "final test accuracy"))
  runs = [s["run"] for r in rows for s in r["seeds"]
          if s["run"] is not None and s["run"].trained]
  if runs:
    parts.append("<h2>Best so far</h2>" + report.img_tag(
        report.plot_best_so_far(runs, out / "best_so_far.png", x="steps"),
        "best so far"))
  for k, row in enumerate(rows):  # one experiment each: figure 4's dots
    first = next((s["run"] for s in row["seeds"]
                  if s["run"] is not None and s["run"].trained), None)
    if first is not None:
      title = f"{row['name']}, seed {first.config.get('seed')}"
      picture = report.plot_progress(first, out / f"progress_{k}.png",
                                     x="steps")
      parts.append(f"<h3>{html.escape(title)}</h3>"
                   + report.img_tag(picture, f"every individual: {title}"))
  parts.append("<h2>Per grid point</h2>" + report.html_table(
      stats, [("point", "grid point"), ("finished", "finished"),
              ("test_mean", "test accuracy (mean)"),
              ("test_std", "test accuracy (std)"),
              ("val_mean", "best validation (mean)"),
              ("individuals", "individuals (mean)")]))
  (out / SWEEP_STATS).write_text(json.dumps(stats, indent=1))
  if out.resolve() != root.resolve():
    (out / SWEEP).unlink(missing_ok=True)  # older versions' stats file
  return report.write_page(out, parts)
