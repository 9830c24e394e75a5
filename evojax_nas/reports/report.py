"""`evojax_nas report --workdir DIR [DIR ...]`: an HTML report of a run.

Reads only the experiment directories (`events.jsonl`, `config.json`, and
`results.json` when the run has finished), so it works while a run is still
going, and writes `<first workdir>/report/index.html` plus the PNGs it
embeds (as data URIs, so the page is self-contained):
  * progress: every individual a dot at (time, validation accuracy), alive
    and dead apart, and the test accuracy of the best-by-validation
    individual over time (Real et al. 2017, figure 1);
  * best-so-far test accuracy of every run given, on one plot; runs whose
    configs differ only in the seed are repeats, drawn as mean ± 2σ
    (figure 2);
  * the best individual's architecture and its lineage: every ancestor with
    the mutation that made it and the accuracy it reached;
  * statistics per generation (genetic) or per window of population-size
    individuals: max, min, mean, median, std, best genome (Genetic CNN,
    table 1);
  * FLOPs, parameters, compile-cache hit rate, wall time, total FLOPs;
  * the Pareto front of validation accuracy against the cost the run
    selected on (else FLOPs per image) over time, its members and the
    lineage of each;
  * retrainings (`evojax_nas retrain`, `final.fraction`): found against
    retrained accuracy and validation accuracy against steps.
"""

from __future__ import annotations

import base64
import dataclasses
import functools
import html
import json
import warnings
from pathlib import Path

import numpy as np

from evojax_nas import files
from evojax_nas.evolution.events import (first_damage, parse, raw_lines,
                                         repair_hint, time_split)
from evojax_nas.evolution.individual import Individual, checker, individuals
from evojax_nas.evolution.store import read_events
from evojax_nas.fronts import non_dominated
from evojax_nas.genomes.escape import parse_schedule
from evojax_nas.reports import architecture
from evojax_nas.workdir import (CONFIG, EVENTS, POPULATION, REPORT, RESULTS,
                                 RETRAINED, read_record, read_results)


@dataclasses.dataclass
class Run:
  workdir: Path
  config: dict
  events: list[dict]
  results: dict | None
  label: str | None = None  # how plots name it (a sweep: its grid point)

  @property
  def name(self) -> str:
    return self.label or (f"{self.workdir.name} "
                          f"({self.config.get('strategy', '?')})")

  @property
  def trained(self) -> list[dict]:
    """The `trained` events, in the order they happened."""
    return [e for e in self.events if e.get("event") == "trained"]

  @functools.cached_property
  def individuals(self) -> dict[int, Individual]:
    return individuals(self.events)


class ReportError(ValueError):
  """A workdir that cannot be reported as it is."""


def _check_log(path: Path, config: dict):
  """A log whose individuals' lives do not add up (two writers, a hand
  edit) is refused with the line and the repair command, not drawn as if
  it were sound. The check needs no strategy, hence no JAX: the strategy's
  replay refuses nothing else (`individual.checker`)."""
  costs = tuple(config.get("objectives", ()))[1:]
  damage = first_damage(path, checker(costs))
  if damage is not None and damage[1] != "a torn last line":  # being written
    raise ReportError(f"{path}:{damage[0]}: {damage[1]}; "
                      f"{repair_hint(path)}")


def read_run(workdir: str | Path) -> Run:
  """Reads a run without writing to it; a torn last line is ignored."""
  workdir = Path(workdir)
  path = workdir / EVENTS
  config = read_record(workdir / CONFIG, "restore it (or report another "
                       "run)") or {}
  if (workdir / POPULATION).is_dir() and not (
      workdir / RESULTS).is_file():
    # Asynchronous workers still running: their records are the log.
    events = read_events(workdir / POPULATION)
  elif not path.is_file():
    raise FileNotFoundError(f"{workdir} has no {EVENTS}: not an "
                            "experiment directory (or nothing ran yet)")
  else:
    if config:
      _check_log(path, config)
    events = []
    for line in raw_lines(path):
      try:
        events.append(parse(line))
      except ValueError:
        continue  # a line being written right now
  results = read_results(workdir)
  return Run(workdir, config, events, results=results)


# --- numbers ---------------------------------------------------------------------
X_AXES = {"t": "experiment time (s)",
          "steps": "training steps (all individuals so far)"}


def progress_axis(run: Run, x: str = "t") -> np.ndarray:
  """Where each trained individual lies on the x axis: the experiment time
  (`t`) or the training steps spent by then (`steps`)."""
  if x == "t":
    return np.asarray([e["t"] for e in run.trained], float)
  return np.cumsum([e.get("steps", 0) for e in run.trained]).astype(float)


def best_so_far(run: Run, x: str = "t") -> tuple[np.ndarray, np.ndarray]:
  """(x, test accuracy of the best-by-validation individual trained by
  then), at every new best that has a measured test accuracy."""
  times, tests, best = [], [], -1.0
  for xi, e in zip(progress_axis(run, x), run.trained):
    if e["val_accuracy"] > best:
      best = e["val_accuracy"]
      if e.get("test_accuracy") is not None:
        times.append(xi)
        tests.append(e["test_accuracy"])
  return np.asarray(times), np.asarray(tests)


def summary(run: Run) -> dict:
  trained = run.trained
  if not trained:
    return {"individuals": 0}
  r = run.results or {}
  # The run's answer once it has one (a generational run's is the last
  # generation's fittest), else the best by validation so far.
  by_id = {e["id"]: e for e in trained}
  best = by_id.get(r.get("best", {}).get("id")) or max(
      trained, key=lambda e: (e["val_accuracy"], -e["id"]))
  out = {
      "individuals": len(trained),
      "alive": sum(i.alive for i in run.individuals.values()),
      "best_id": best["id"],
      "best_val": best["val_accuracy"],
      "best_test": (r["best"]["test_accuracy"] if r else
                    best.get("test_accuracy")),
      "ensemble_test": r["ensemble"]["test_accuracy"] if r else None,
      "total_flops": sum(int(e["flops"]["total"]) for e in trained),
      "wall_time_s": r.get("wall_time_s", max(e["t"] for e in run.events
                                               if "t" in e)),
      "best_train_step_flops": best["flops"]["train_step"],
      "compile_cache": trained[-1].get("compile_cache", {}),
      "finished": bool(r),
  }
  recorded = r.get("time") or {}  # (older runs: shares of the wall time)
  out["time"] = (recorded if "idle" in recorded.get("shares", {}) else
                 time_split(trained, float(out["wall_time_s"])))
  return out


def lineage(run: Run, ident: int) -> list[dict]:
  """The individual and its ancestors, newest first."""
  inds, chain = run.individuals, []
  while ident in inds and inds[ident].born is not None:
    ind = inds[ident]
    chain.append({"id": ident, "mutation": ind.mutation, "t": ind.born["t"],
                  "val_accuracy": ind.trained and ind.val_accuracy,
                  "description": ind.genome.describe()})
    ident = ind.parent
  return chain


def window_stats(run: Run) -> list[dict]:
  """Per generation for generational runs, else per window of
  `population_size` trained individuals in training order."""
  gens = [e for e in run.events if e.get("event") == "generation"]
  if gens:
    return [dict(g["stats"], window=f"generation {g['generation']}")
            for g in gens]
  size = max(1, int(run.config.get("population_size", 10)))
  trained, inds, out = run.trained, run.individuals, []
  for start in range(0, len(trained), size):
    w = trained[start:start + size]
    v = np.asarray([e["val_accuracy"] for e in w])
    b = w[int(np.argmax(v))]
    out.append({"window": f"{w[0]['id']}–{w[-1]['id']}",
                "max": float(v.max()), "min": float(v.min()),
                "mean": float(v.mean()), "median": float(np.median(v)),
                "std": float(v.std()), "best_id": b["id"],
                "best_genome": inds[b["id"]].genome.describe()})
  return out


# --- pictures ----------------------------------------------------------------------
def figure(width=8, height=4.5):
  """A matplotlib Figure outside pyplot: no global backend or state is
  touched, so notebooks keep their inline plots."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  fig = Figure(figsize=(width, height))
  return fig, fig.subplots()


def _mark_escapes(ax, run: Run, xs: np.ndarray, x: str):
  """Section 5's interventions: the span of children born under a raised
  mutation rate, and each population-wide weight reset."""
  ids = [e["id"] for e in run.trained]
  for k, (start, end, count) in enumerate(parse_schedule(
      run.config.get("escape.mutation_rate_schedule", "") or "")):
    inside = [xi for xi, i in zip(xs, ids) if start <= i < end]
    if inside:
      ax.axvspan(min(inside), max(inside), color="#ff7f0e", alpha=0.12,
                 label=None if k else f"{count} mutations per child")
  for k, e in enumerate(e for e in run.events
                        if e.get("event") == "population_reset"):
    at = e["t"] if x == "t" else xs[min(int(e["at"]), len(xs)) - 1]
    ax.axvline(at, color="#2ca02c", linestyle="--",
               label=None if k else "weights reset")


def _finish(fig, ax, path: Path, xlabel: str, ylabel: str, title: str
            ) -> Path:
  """Labels, grid and legend of a plot; saves it to `path`."""
  ax.set_xlabel(xlabel)
  ax.set_ylabel(ylabel)
  ax.set_title(title)
  ax.grid(alpha=0.3)
  ax.legend(loc="lower right", fontsize=8)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=90)
  return path


def plot_progress(run: Run, path: Path, x: str = "t") -> Path:
  """Every individual a dot at (x, validation accuracy), alive and dead
  apart; the best-so-far test accuracy; section 5's interventions."""
  fig, ax = figure()
  inds = run.individuals
  xs = progress_axis(run, x)
  for alive, colour, label in ((False, "#aaaaaa", "dead"),
                               (True, "#1f77b4", "alive")):
    pts = [(xi, e["val_accuracy"]) for xi, e in zip(xs, run.trained)
           if inds[e["id"]].alive == alive]
    if pts:
      t, v = zip(*pts)
      ax.scatter(t, v, s=12, c=colour, label=f"{label} (validation)",
                 zorder=2 if alive else 1)
  t, test = best_so_far(run, x)
  if len(t):
    ax.step(list(t) + [xs.max()], list(test) + [test[-1]], where="post",
            color="#d62728", label="test accuracy of the best by validation")
  if len(xs):
    _mark_escapes(ax, run, xs, x=x)
  return _finish(fig, ax, path, xlabel=X_AXES[x], ylabel="accuracy",
                 title=f"{run.name}: every individual")


COST_LABELS = {"flops": "FLOPs per image", "params": "parameters",
               "latency": "latency (ms per eval batch)"}


def front_cost(run: Run) -> str | None:
  """The cost of the run's Pareto front: the first it selected on, else
  FLOPs per image; None if its events record no costs (older runs)."""
  cost = (list(run.config.get("objectives") or ["accuracy"])[1:]
          or ["flops"])[0]
  return cost if run.trained and all(
      cost in (e.get("costs") or {}) for e in run.trained) else None


def pareto_front(run: Run, cost: str, until: float | None = None
                 ) -> list[dict]:
  """`trained` events that none trained by `until` beats on validation
  accuracy and `cost`, cheapest first."""
  trained = [e for e in run.trained if until is None or e["t"] <= until]
  if not trained:
    return []
  points = [[-e["val_accuracy"], e["costs"][cost]] for e in trained]
  return sorted((trained[k] for k in non_dominated(points)),
                key=lambda e: (e["costs"][cost], e["id"]))


def plot_front(run: Run, path: Path, cost: str) -> Path:
  """Every individual a dot at (cost, validation accuracy), coloured by
  when it trained; the Pareto front at a quarter, half, three quarters and
  the end of the run as step lines."""
  fig, ax = figure()
  trained = run.trained
  t = np.array([e["t"] for e in trained])
  dots = ax.scatter([e["costs"][cost] for e in trained],
                    [e["val_accuracy"] for e in trained], s=12, c=t,
                    cmap="viridis", zorder=2)
  fig.colorbar(dots, ax=ax, label="trained at (s)")
  for q, width in ((0.25, 0.8), (0.5, 0.8), (0.75, 0.8), (1.0, 2.0)):
    front = pareto_front(run, cost, until=q * t.max())
    if front:
      ax.step([e["costs"][cost] for e in front],
              [e["val_accuracy"] for e in front], where="post",
              color=(0.8 * (1 - q), 0.1, 0.2 + 0.6 * q), lw=width, zorder=3,
              label=f"front at {q * t.max():.0f} s")
  ax.set_xscale("log")
  ax.xaxis.set_minor_formatter("")  # only the powers of ten are labelled
  label = COST_LABELS.get(cost, cost)
  return _finish(fig, ax, path, xlabel=label, ylabel="validation accuracy",
                 title=f"{run.name}: accuracy against {label}")


def _repeat_key(run: Run) -> str:
  return json.dumps({k: v for k, v in run.config.items()
                     if k not in ("seed", "data.dir", "data.cache_dir",
                                  "progress")}, sort_keys=True)


def plot_best_so_far(runs: list[Run], path: Path, x: str = "t") -> Path:
  """Best-so-far test accuracy of every run against `x` (see
  `progress_axis`); runs that differ only in the seed as mean ± 2σ."""
  fig, ax = figure()
  groups: dict[str, list[Run]] = {}
  for run in runs:
    groups.setdefault(_repeat_key(run), []).append(run)
  for members in groups.values():
    curves = [best_so_far(r, x) for r in members]
    curves = [(t, v) for t, v in curves if len(t)]
    if not curves:
      continue
    label = members[0].name
    if len(curves) == 1:  # drawn on to the run's last individual
      t, v = curves[0]
      end = progress_axis(members[0], x).max()
      ax.step(np.append(t, end), np.append(v, v[-1]), where="post",
              label=label)
      continue
    grid = np.linspace(0, max(progress_axis(r, x).max() for r in members
                              if r.trained), 200)
    ys = np.stack([np.where(grid >= t[0], v[np.clip(
        np.searchsorted(t, grid, side="right") - 1, 0, None)], np.nan)
                   for t, v in curves])
    with np.errstate(all="ignore"), warnings.catch_warnings():
      warnings.simplefilter("ignore", RuntimeWarning)  # before the 1st point
      mean, std = np.nanmean(ys, 0), np.nanstd(ys, 0)
    line, = ax.plot(grid, mean, label=f"{label}: mean of {len(curves)}")
    ax.fill_between(grid, mean - 2 * std, mean + 2 * std, alpha=0.2,
                    color=line.get_color(), label="± 2σ")
  return _finish(fig, ax, path, xlabel=X_AXES[x],
                 ylabel="test accuracy of the best by validation",
                 title="best so far")


# --- the page --------------------------------------------------------------------
def _fmt(x, digits=4):
  if x is None:
    return "–"
  if isinstance(x, float):
    return f"{x:.{digits}f}"
  return str(x)


def img_tag(path: Path, alt: str) -> str:
  data = base64.b64encode(path.read_bytes()).decode()
  return (f'<img src="data:image/png;base64,{data}" alt="{html.escape(alt)}" '
          f'data-file="{path.name}">')


def html_table(rows: list[dict], columns: list[tuple[str, str]]) -> str:
  head = "".join(f"<th>{html.escape(c)}</th>" for _, c in columns)
  body = "".join(
      "<tr>" + "".join(f"<td>{html.escape(_fmt(r.get(k)))}</td>"
                       for k, _ in columns) + "</tr>" for r in rows)
  return f"<table><tr>{head}</tr>{body}</table>"


NO_PARAMS = "not recorded (a log from before trained events carried costs)"


def best_parameters(run: Run, ident: int) -> int | str:
  """The individual's parameters as its `trained` event recorded them (the
  run's classes and image shape); a log from before events carried costs
  does not say, and the report says so (counting them would load JAX and
  build the network)."""
  costs = (run.individuals[ident].trained or {}).get("costs") or {}
  return int(costs["params"]) if "params" in costs else NO_PARAMS


def _summary_rows(run: Run, s: dict) -> list[tuple[str, str, object]]:
  """(html id, label, value) of the summary table."""
  cache, split = s["compile_cache"], s["time"]
  k = run.config.get("ensemble_size", 2)
  rows = [("individuals", "individuals", s["individuals"]),
          ("alive", "alive", s["alive"]),
          ("best-id", "best individual", s["best_id"]),
          ("best-val", "its validation accuracy", _fmt(s["best_val"])),
          ("best-test", "its test accuracy", _fmt(s["best_test"])),
          ("ensemble-test", f"top-{k} ensemble test accuracy",
           _fmt(s["ensemble_test"])),
          ("best-flops", "its train-step FLOPs (Ft)",
           f"{s['best_train_step_flops']:.4g}"),
          ("best-params", "its parameters",
           best_parameters(run, s["best_id"])),
          ("total-flops", "total FLOPs (Σ Ft·Nt + Fv·Nv)",
           f"{s['total_flops']:.4g}"),
          ("wall-time", "wall time (s)", _fmt(float(s["wall_time_s"]), 1)),
          ("cache-hit-rate", "compile-cache hit rate",
           _fmt(float(cache.get("hit_rate", 0.0)), 3)),
          ("compile-seconds", "compile seconds (all threads)",
           _fmt(float(cache.get("compile_seconds", 0.0)), 1))]
  return rows + _time_rows(split)


def _time_rows(split: dict) -> list[tuple[str, str, str]]:
  """Where the slots' time went (events.time_split), then the process's
  CPU time where the run recorded it (every compile's seconds are the
  compile cache's row)."""
  rows = [(f"time-{key}", f"{label} (s, share of the {split['slots']} "
           "slots' time)", f"{split[key + '_s']:.1f} "
           f"({split['shares'][key]:.0%})")
          for key, label in (("compile", "compiling, on the critical path"),
                             ("train", "training"), ("eval", "validating"),
                             ("save", "saving"), ("restore", "restoring"),
                             ("wait", "waiting for the device"),
                             ("idle", "idle"))]
  if "process_cpu_s" in split:
    rows.append(("time-process_cpu", "the process's CPU time, all threads "
                 "(s)", f"{split['process_cpu_s']:.1f}"))
  return rows


def _sections(runs: list[Run], s: dict, genome, out: Path) -> list[str]:
  """The report's sections after its summary, for a run that trained."""
  run = runs[0]
  parts = [
      "<h2>Progress</h2>" + img_tag(
          plot_progress(run, out / "progress.png"), "progress"),
      "<h2>Best so far</h2>" + img_tag(
          plot_best_so_far(runs, out / "best_so_far.png"), "best so far"),
      f"<h2>Best individual: {s['best_id']}</h2><p><code>"
      f"{html.escape(genome.describe())}</code></p>" + img_tag(
          architecture.draw(genome, out / "architecture.png",
                            f"individual {s['best_id']}"), "architecture"),
      "<h2>Lineage</h2>" + html_table(
          lineage(run, s["best_id"]),
          [("id", "id"), ("mutation", "mutation"), ("t", "born (s)"),
           ("val_accuracy", "validation accuracy"),
           ("description", "architecture")])]
  cost = front_cost(run)
  if cost:
    parts.append(_front_section(run, cost, out))
  return parts + [_statistics_section(run),
                  retrained_section(run.workdir, run.results, out)]


def _statistics_section(run: Run) -> str:
  return "<h2>Statistics</h2>" + html_table(
      window_stats(run),
      [("window", "window"), ("max", "max"), ("min", "min"),
       ("mean", "mean"), ("median", "median"), ("std", "std"),
       ("best_genome", "best genome")])


def build(workdirs, out_dir: str | Path | None = None) -> Path:
  """Writes the report of `workdirs[0]` (with the others on the best-so-far
  plot) and returns the path of its index.html."""
  runs = [read_run(w) for w in workdirs]
  run = runs[0]
  out = Path(out_dir) if out_dir else run.workdir / REPORT
  out.mkdir(parents=True, exist_ok=True)
  s = summary(run)
  parts = [f"<h1>evojax-nas report: {html.escape(str(run.workdir))}</h1>",
           "<p>" + ("finished" if s.get("finished") else
                    f"in progress ({RESULTS} not written yet)") + "</p>"]
  if not s["individuals"]:
    return write_page(out, parts + ["<p>No individual trained yet.</p>"])
  genome = run.individuals[s["best_id"]].genome
  parts.append("<h2>Summary</h2><table>" + "".join(
      f'<tr><th>{html.escape(label)}</th><td id="{key}">'
      f"{html.escape(str(value))}</td></tr>"
      for key, label, value in _summary_rows(run, s)) + "</table>")
  return write_page(out, parts + _sections(runs, s, genome, out=out))


def _front_section(run: Run, cost: str, out: Path) -> str:
  """The Pareto front over time, its members, and each member's lineage."""
  tests = {m["id"]: m["test_accuracy"] for m in
           ((run.results or {}).get("pareto_front") or {}).get("members", [])}
  members = [{"id": e["id"], "val_accuracy": e["val_accuracy"],
              "test_accuracy": tests.get(e["id"], e.get("test_accuracy")),
              cost: e["costs"][cost],
              "description": run.individuals[e["id"]].genome.describe()}
             for e in pareto_front(run, cost)]
  columns = [("id", "id"), ("val_accuracy", "validation accuracy"),
             ("test_accuracy", "test accuracy"),
             (cost, COST_LABELS.get(cost, cost)),
             ("description", "architecture")]
  lineages = "".join(
      f"<details><summary>lineage of {m['id']}</summary>" + html_table(
          lineage(run, m["id"]),
          [("id", "id"), ("mutation", "mutation"), ("t", "born (s)"),
           ("val_accuracy", "validation accuracy"),
           ("description", "architecture")]) + "</details>"
      for m in members)
  return (f"<h2>Pareto front: accuracy against {COST_LABELS.get(cost, cost)}"
          "</h2>" + img_tag(plot_front(run, out / "pareto_front.png", cost),
                            "Pareto front")
          + html_table(members, columns) + lineages)


# --- retraining (`evojax_nas retrain`, `final.fraction`) ----------------------

def read_retrained(workdir: Path) -> list[dict]:
  """Every finished retraining of `workdir`, by name."""
  root = Path(workdir) / RETRAINED
  found = []
  for folder in sorted(root.iterdir()) if root.is_dir() else []:
    try:
      results = read_results(folder)
    except ValueError:
      continue  # being written
    if results is not None:
      found.append(results)
  return found


def plot_retraining(retrained: list[dict], path: Path) -> Path:
  """Validation accuracy against steps, one line per retraining, the found
  model's as a dotted line in the same colour."""
  fig, ax = figure()
  for i, r in enumerate(retrained):
    colour = f"C{i % 10}"
    steps = [p["step"] for p in r["curve"]]
    ax.plot(steps, [p["val_accuracy"] for p in r["curve"]], "o-",
            color=colour, markersize=3, label=r["name"])
    if r.get("found_val_accuracy") is not None and r["data"]["name"] == (
        r.get("found_data")):
      ax.axhline(r["found_val_accuracy"], color=colour, linestyle=":")
  return _finish(
      fig, ax, path, xlabel="retraining steps", ylabel="validation accuracy",
      title="Retraining: validation accuracy (dotted: the found model's)")


def retrained_section(workdir: Path, results: dict | None, out: Path) -> str:
  """The HTML of the section, "" when nothing was retrained."""
  retrained = read_retrained(workdir)
  parts = []
  final = (results or {}).get("final")
  if final:
    s, r = final["search"], final["retrain"]
    parts.append(
        f"<p id='final-split'>final.fraction = {final['fraction']:g}: the "
        f"search had {s['time_budget_s']:g} s / {s['max_steps']} steps of "
        f"the budget (0 = no limit) and took {s['wall_time_s']:.0f} s; "
        f"retraining its best took {r['seconds']:.0f} s for {r['steps']} "
        f"steps: test {r['found_test_accuracy']:.4f} → "
        f"{r['test_accuracy']:.4f}.</p>")
  if not retrained:
    return "<h2>Retrained</h2>" + "".join(parts) if parts else ""
  rows = [{"name": r["name"], "individual": r["individual"],
           "data": r["data"]["name"], "init": r["config"]["init"],
           "steps": r["steps"], "width": r["config"]["width"],
           "found_test": r["found_test_accuracy"],
           "test": r["test_accuracy"], "seconds": r["seconds"],
           "flops": f"{r['flops']['per_image']:.3g}",
           "description": r["description"]} for r in retrained]
  columns = [("name", "retraining"), ("individual", "individual"),
             ("data", "data"), ("init", "init"), ("steps", "steps"),
             ("width", "width"), ("found_test", "found test accuracy"),
             ("test", "retrained test accuracy"), ("seconds", "seconds"),
             ("flops", "FLOPs per image"), ("description", "architecture")]
  parts.append(html_table(rows, columns))
  parts.append(img_tag(
      plot_retraining(retrained, out / "retrained.png"), "retraining curves"))
  return ("<h2>Retrained</h2><p>" + html.escape(
      f"{len(retrained)} retraining(s) in {workdir}/retrained") + "</p>"
          + "".join(parts))


def write_page(out: Path, parts: list[str]) -> Path:
  """Writes `out/index.html` (atomically) from HTML fragments."""
  page = ("<!doctype html><html><head><meta charset='utf-8'><title>"
          "evojax-nas report</title><style>body{font-family:sans-serif;"
          "max-width:1000px;margin:auto} table{border-collapse:collapse}"
          " td,th{border:1px solid #ccc;padding:2px 6px;font-size:13px;"
          "text-align:left} img{max-width:100%}</style></head><body>"
          + "\n".join(parts) + "</body></html>")
  return files.write_atomic(out / "index.html", page)
