"""Meta-parameter studies: a grid of configs × seeds, one experiment each
(Real et al. 2017, section 5, figures 3 and 4).

`evojax_nas sweep --config CFG --grid KEY=V1,V2 [--grid ...] --seeds N
--workdir DIR` plans the cartesian product of the grids, each point with
seeds `config.seed + 0 .. N-1`, and records it in `DIR/sweep.json`. Every
experiment lives in `DIR/<point>/seed<S>/` with its own `config.json`, and
runs as `evojax_nas resume --workdir` in a fresh process (its compiled
programs and memory mappings die with it): one after another on this
machine, or as Ray tasks (`runner="ray"`). Running the same command again
skips the finished experiments and resumes the interrupted one; more seeds
or more values of the same grid keys add experiments; a changed config of a
started experiment is refused by that experiment.

Grid values are Python literals (`population_size=2,10,50`,
`escape.reset_population_at=(),(30,)`); a value that is not one is a
string (`escape.mutation_rate_schedule='',20-30:5`; quote a string that
holds commas: `'"20-30:5,40-50:3"'`).
"""

from __future__ import annotations

import ast
import itertools
import json
import logging
import re
import time
from pathlib import Path

import ml_collections

from evojax_nas import config as config_lib
from evojax_nas import files
from evojax_nas.runs import ownership, processes
from evojax_nas.runs.recorded_config import check_same_experiment
from evojax_nas.workdir import (CONFIG, RESULTS, RUN_LOG, SWEEP, is_experiment,
                                 read_sweep_plan)

log = logging.getLogger("evojax_nas")


def parse_grid(item: str) -> tuple[str, list]:
  """`KEY=V1,V2,...` -> (key, values); ConfigError if it is not one."""
  key, sep, text = item.partition("=")
  if not sep or not key or not text:
    raise config_lib.ConfigError(f"--grid {item!r} is not KEY=V1,V2,...")
  try:
    values = list(ast.literal_eval(f"[{text}]"))
  except (ValueError, SyntaxError):
    values = []  # comma-separated, a quoted part kept whole
    for part in re.findall(r"""'[^']*'|"[^"]*"|[^,]+""", text):
      try:
        values.append(ast.literal_eval(part))
      except (ValueError, SyntaxError):
        values.append(part)
  if len({json.dumps(v) for v in values}) != len(values):
    raise config_lib.ConfigError(f"--grid {item!r} repeats a value")
  return key, values


def slug(value) -> str:
  """A folder-name form of a grid value: `2`, `0.1`, `none`, `30+60`."""
  if value in ("", (), [], None):
    return "none"
  if isinstance(value, (tuple, list)):
    return "+".join(slug(v) for v in value)
  return re.sub(r"[^A-Za-z0-9._-]+", "_", str(value)).strip("_") or "_"


def point_name(values: dict) -> str:
  """The folder of a grid point: `population_size=2`,
  `mutation_rate_schedule=none,reset_population_at=24`."""
  return ",".join(f"{k.rsplit('.', 1)[-1]}={slug(v)}"
                  for k, v in values.items())


def plan(config_file: str, grid: list[str], seeds: int,
         overrides=()) -> dict:
  """The sweep's experiments: name, grid values, seed, folder and validated
  config of each; ConfigError naming a bad key or value."""
  if seeds < 1:
    raise config_lib.ConfigError(f"--seeds must be at least 1, got {seeds}")
  if not grid:
    raise config_lib.ConfigError("a sweep needs at least one --grid "
                                 "KEY=V1,V2,...")
  axes = dict(parse_grid(g) for g in grid)
  if len(axes) != len(grid):
    raise config_lib.ConfigError("--grid names the same key twice")
  base = config_lib.load_file(config_file, overrides)
  known = config_lib.flatten(config_lib.default_config())
  for key in axes:
    if key not in known:
      raise config_lib.ConfigError(
          f"--grid {key}: unknown config key; the keys are those of "
          "evojax_nas.config.default_config()")
    if key == "seed":
      raise config_lib.ConfigError("sweep seeds with --seeds, not --grid")
  points, names = [], set()
  for combo in itertools.product(*axes.values()):
    values = dict(zip(axes, combo))
    name = point_name(values)
    if name in names:
      raise config_lib.ConfigError(f"two grid points share the folder "
                                   f"name {name!r}; use distinct values")
    names.add(name)
    for s in range(seeds):
      config = ml_collections.ConfigDict(base.to_dict())
      try:
        config.update_from_flattened_dict(
            {k: (tuple(v) if isinstance(v, list) else v)
             for k, v in values.items()})
      except (KeyError, TypeError) as err:
        raise config_lib.ConfigError(f"grid point {name}: {err}") from None
      config.seed = base.seed + s
      try:
        config = config_lib.validate(config)
      except config_lib.ConfigError as err:
        raise config_lib.ConfigError(f"grid point {name}: {err}") from None
      points.append({"name": name, "values": values, "seed": config.seed,
                     "workdir": f"{name}/seed{config.seed}",
                     "config": config})
  return {"config_file": str(Path(config_file).absolute()),
          "overrides": list(overrides), "grid": axes, "points": points}


def _record(sweep: dict, root: Path):
  """Writes `root/sweep.json`: the union with the sweep there, whose grid
  may gain values (and seeds) but not keys; refuses a folder that holds a
  sweep of another config file, overrides or grid keys."""
  path = root / SWEEP
  mine = json.loads(json.dumps({k: sweep[k] for k in (
      "config_file", "overrides", "grid")}))
  old = read_sweep_plan(root)
  if old is None:
    old = {"grid": {k: [] for k in mine["grid"]}, "points": []}
  else:
    for k, v in (("config_file", mine["config_file"]),
                 ("overrides", mine["overrides"]),
                 ("grid keys", sorted(mine["grid"]))):
      was = sorted(old["grid"]) if k == "grid keys" else old.get(k)
      if was != v:
        raise config_lib.ConfigError(
            f"{root} holds a sweep with other {k} ({was!r}); rerun it with "
            "the same --config, overrides and --grid keys (values and "
            "seeds may be added), or use a new --workdir")
  grid = {k: old["grid"][k] + [v for v in values if v not in old["grid"][k]]
          for k, values in mine["grid"].items()}
  rows = {p["workdir"]: p for p in old["points"]}
  rows.update({p["workdir"]: {k: p[k] for k in ("name", "values", "seed",
                                                 "workdir")}
               for p in sweep["points"]})
  files.write_atomic(path, json.dumps(
      dict(mine, grid=grid, points=list(rows.values())), indent=1,
      sort_keys=True))


def refuse_experiment(root: Path) -> None:
  """A sweep's folder is not an experiment's: refused in one line."""
  if (root / SWEEP).is_file():
    return
  if is_experiment(root):
    raise config_lib.ConfigError(
        f"{root} holds an experiment, not a sweep: give the sweep a new "
        "--workdir (its experiments go in <point>/seed<S>/ below it)")


def statuses(sweep: dict, root: Path) -> list[str]:
  """"finished", "started" or "new" for each planned experiment; a started
  one whose config changed is refused (ConfigError). Writes nothing."""
  out = []
  for p in sweep["points"]:
    w = root / p["workdir"]
    if (w / CONFIG).is_file():
      check_same_experiment(p["config"], w / CONFIG, record=False)
    out.append("finished" if (w / RESULTS).is_file() else
               "started" if (w / CONFIG).is_file() else "new")
  return out


def _folder(point: dict, root: Path) -> Path:
  """The experiment's folder with its config.json, made when it runs (a
  large grid writes nothing ahead of its experiments)."""
  w = root / point["workdir"]
  w.mkdir(parents=True, exist_ok=True)
  check_same_experiment(point["config"], w / CONFIG)
  return w


def _wait_while_held(workdir: Path, timeout_s: float) -> str | None:
  """Waits (up to `timeout_s`) for another process holding `workdir` to
  let go: the experiment of an earlier driver that was killed stops by
  itself (it is sent SIGTERM when its driver dies) after its current
  training. Returns the holder if it is still there."""
  who = ownership.holder(workdir)
  if who is not None:
    log.info("%s is held by %s (the experiment of an earlier sweep driver "
             "that was stopped?); waiting up to %.0f s for it to stop",
             workdir, who, timeout_s)
  deadline = time.monotonic() + timeout_s
  while who is not None and time.monotonic() < deadline:
    time.sleep(1.0)
    who = ownership.holder(workdir)
  return who


def run_point(workdir: str, wait_s: float = 600.0) -> int:
  """Runs one experiment to its end in a fresh process (`evojax_nas
  resume`), its output in `workdir/run.log`; returns its exit status (also
  a Ray task). The experiment stops (SIGTERM) if this process dies, even by
  SIGKILL; stopped (Ctrl-C, SIGTERM), this process passes the stop on and
  waits for the experiment to stop cleanly before it stops too
  (processes.watching)."""
  who = _wait_while_held(Path(workdir), wait_s)
  if who is not None:
    with open(Path(workdir) / RUN_LOG, "ab") as out:
      out.write(f"evojax_nas sweep: not started: {workdir} is still in use "
                f"by {who} after {wait_s:.0f} s; stop that process (or let "
                "it finish), then run the sweep again\n".encode())
    return 2
  with processes.watching(grace_s=120.0) as children:
    children.add("experiment", processes.start(
        ["resume", "--workdir", str(workdir)],
        log_to=Path(workdir) / RUN_LOG))
    return children.wait()


def _last_line(workdir: Path) -> str:
  try:
    lines = (workdir / RUN_LOG).read_text(errors="replace").splitlines()
  except OSError:
    return ""
  return next((l for l in reversed(lines) if l.strip()), "")


def _run_ray(todo: list[Path], workers) -> dict[Path, int]:
  ray = processes.ray_started(workers, "--runner ray")
  task = processes.ray_task(ray, workers, run_point)
  codes = {}
  running = {task.remote(str(w)): w for w in todo}
  # Stopped, each point's own supervisor gives its experiment 120 s; the
  # tasks get longer before their workers are killed.
  for w, code in processes.ray_results(ray, running, grace_s=180.0):
    codes[w] = code
    log.info("%s: exit %d: %s", w, code, _last_line(w))
  return codes


def run(sweep: dict, root: str | Path, runner: str = "local") -> list[dict]:
  """Runs every unfinished experiment of `sweep` (from `plan`) under
  `root`; returns one row per experiment: workdir, exit status, last line.
  A failed experiment does not stop the others."""
  if runner not in config_lib.RUNNERS:
    raise config_lib.ConfigError(f"runner {runner!r} unknown; valid "
                                 f"choices: {list(config_lib.RUNNERS)}")
  root = Path(root).absolute()
  refuse_experiment(root)
  root.mkdir(parents=True, exist_ok=True)
  with ownership.held(root, "a sweep"):
    _record(sweep, root)
    rows, todo = [], []
    for p, status in zip(sweep["points"], statuses(sweep, root)):
      if status == "finished":
        rows.append({"workdir": root / p["workdir"], "code": 0,
                     "line": "finished before"})
      else:
        todo.append(p)
    log.info("sweep %s: %d experiments, %d to run", root,
             len(sweep["points"]), len(todo))
    if runner == "ray":
      codes = _run_ray([_folder(p, root) for p in todo],
                       sweep["points"][0]["config"].workers)
    else:
      codes = _run_here(todo, root)
    return rows + [{"workdir": w, "code": c, "line": _last_line(w)}
                   for w, c in codes.items()]


def _run_here(todo: list[dict], root: Path) -> dict[Path, int]:
  """The experiments one after another on this machine; their exit
  statuses. One stopped by Ctrl-C or SIGTERM stops the sweep."""
  codes = {}
  for k, p in enumerate(todo):
    w = _folder(p, root)  # created when its turn comes
    log.info("[%d/%d] %s", k + 1, len(todo), w.relative_to(root))
    codes[w] = run_point(str(w))
    if codes[w] in (130, 143):  # Ctrl-C or SIGTERM: the sweep stops
      raise KeyboardInterrupt("SIGTERM" if codes[w] == 143 else "")
    log.info("    %s", _last_line(w))
  return codes
