"""An experiment's folder: every file name in it, the `results.json`
format (written and read here only), and what the folder owns, so that no
command's output lands on it (an export's `--out` on `events.jsonl` would
replace the run's record with a binary program).

An experiment folder (or a sweep's) is one that holds `events.jsonl`,
`config.json`, `sweep.json` or `population/`; it owns the names below and
everything inside them.
"""

from __future__ import annotations

import json
from pathlib import Path

from evojax_nas import files
from evojax_nas.errors import ConfigError

CONFIG = "config.json"             # the config, as validated (resume reads it)
EVENTS = "events.jsonl"            # the log: the run's history
RESULTS = "results.json"           # the answer (`write_results`)
DATA = "data.json"                 # the data's identity (a resume checks it)
MODEL = "model"                    # the best, exported
MODELS = "models"                  # a Pareto front's members, exported
CHECKPOINTS = "checkpoints"        # the kept individuals' weights
POPULATION = "population"          # the workers' shared store
TENSORBOARD = "tensorboard"
COMPILE_CACHE = "compile_cache"    # JAX's persistent compilation cache
REPORT = "report"                  # `evojax_nas report`
SWEEP_STATS = "sweep_stats.json"   # in a sweep's report/ (not a marker)
LOCK = "lock"                      # one owner at a time
RUN_LOG = "run.log"
RECYCLE_CONFIG = "recycle_config.json"
SWEEP = "sweep.json"               # a sweep's folder, not an experiment's
RETRAINED = "retrained"            # `evojax_nas retrain`, final.fraction
FINAL = "final"                    # in retrained/: the final training's
RETRAIN_SETTINGS = "retrain.json"  # in each retrained/<name>/
RACE = "race.json"                 # in retrained/final/: `final.candidates`
FAULTS = "faults.json"
LOGS = "logs"                      # workers' logs

OWNED = frozenset({
    CONFIG, EVENTS, RESULTS, DATA, MODEL, MODELS, CHECKPOINTS, POPULATION,
    TENSORBOARD, COMPILE_CACHE, REPORT, LOCK, RUN_LOG, RECYCLE_CONFIG, SWEEP,
    RETRAINED, FAULTS, LOGS})
OWNED_PREFIXES = ("events.", "rejected-", ".")  # aside logs, temporaries
MARKERS = (EVENTS, CONFIG, SWEEP, POPULATION)


def write_results(folder: str | Path, results: dict) -> Path:
  """`results.json` of an experiment (or a retraining) in `folder`,
  atomically."""
  path = Path(folder) / RESULTS
  files.write_atomic(path, json.dumps(results, indent=1))
  return path


def read_results(folder: str | Path) -> dict | None:
  """`results.json` of `folder`, or None where the run has not finished."""
  path = Path(folder) / RESULTS
  return json.loads(path.read_text()) if path.is_file() else None


def read_record(path: str | Path, fix: str):
  """What a folder recorded in the JSON file `path`: None if there is
  none; ConfigError naming the file and `fix` if it does not parse."""
  path = Path(path)
  if not path.is_file():
    return None
  try:
    return json.loads(path.read_text())
  except ValueError:
    raise ConfigError(f"{path} is not valid JSON; {fix}") from None


def read_sweep_plan(root: str | Path) -> dict | None:
  """The plan a sweep recorded in `root/sweep.json` (None if there is
  none); ConfigError if it does not parse."""
  return read_record(Path(root) / SWEEP,
                     "restore it or use a new --workdir")


def is_experiment(folder: Path) -> bool:
  """Whether `folder` holds an experiment or a sweep (never its report
  folder, whatever an older version left there: a sweep's report once
  wrote `report/sweep.json`)."""
  if folder.name == REPORT and is_experiment(folder.parent):
    return False
  return folder.is_dir() and any((folder / m).exists() for m in MARKERS)


def owned(path: str | Path, allow: tuple[str, ...] = ()
          ) -> tuple[Path, str] | None:
  """(experiment folder, owned name) if writing `path` would replace or
  land inside something an experiment owns (or the folder itself); None
  where it is free. `allow`: owned names the caller may write (a report
  into `report/`)."""
  p = Path(path).expanduser().resolve()
  if is_experiment(p):
    return p, "."
  for folder in p.parents:
    if is_experiment(folder):
      first = p.relative_to(folder).parts[0]
      if first in allow:
        return None
      if first in OWNED or first.startswith(OWNED_PREFIXES):
        return folder, first
      return None
  return None


def refuse_owned(path: str | Path, flag: str, allow: tuple[str, ...] = ()
                 ) -> None:
  """ConfigError (one line) if `path` is `owned`."""
  hit = owned(path, allow)
  if hit is None:
    return
  folder, name = hit
  what = ("the experiment folder itself" if name == "." else
          f"{name}, which belongs to the experiment")
  raise ConfigError(
      f"{flag} {path} would write over {what} in {folder}: nothing was "
      f"written; choose a path outside the experiment's own files (e.g. in "
      f"{folder / 'exports'}, or another folder)")


def refuse_sweep(workdir: Path) -> None:
  """An experiment is not started in a sweep's folder (one line)."""
  if (Path(workdir) / SWEEP).is_file():
    raise ConfigError(
        f"{workdir} is a sweep's folder (sweep.json), not an experiment's: "
        "run the sweep's command to continue it, or give the experiment a "
        "new --workdir")
