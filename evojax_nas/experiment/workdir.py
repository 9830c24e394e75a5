"""What an experiment folder owns, so that no command's output lands on
it: an export's `--out` on `events.jsonl` would replace the run's record
with a binary program.

An experiment folder (or a sweep's) is one that holds `events.jsonl`,
`config.json`, `sweep.json` or `population/`; it owns the names below and
everything inside them.
"""

from __future__ import annotations

from pathlib import Path

from evojax_nas.config import ConfigError

OWNED = frozenset({
    "config.json", "events.jsonl", "results.json", "data.json", "model",
    "models", "checkpoints", "population", "tensorboard", "compile_cache",
    "report", "lock", "run.log", "recycle_config.json", "sweep.json",
    "retrained", "faults.json", "logs"})
OWNED_PREFIXES = ("events.", "rejected-", ".")  # aside logs, temporaries
MARKERS = ("events.jsonl", "config.json", "sweep.json", "population")


def is_experiment(folder: Path) -> bool:
  """Whether `folder` holds an experiment or a sweep."""
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
  if (Path(workdir) / "sweep.json").is_file():
    raise ConfigError(
        f"{workdir} is a sweep's folder (sweep.json), not an experiment's: "
        "run the sweep's command to continue it, or give the experiment a "
        "new --workdir")
