"""`repair(workdir)`: a damaged event log is never a dead end.

Keeps the longest prefix of `events.jsonl` that is text, valid JSON and
replays (every individual born once, trained and killed at most once,
genomes valid), and moves the rest aside to `rejected-<UTC time>/`, never
deleting a line. What the set-aside lines produced goes with them, so that
what stays agrees with the log that stays and what is set aside agrees
with its lines: the checkpoints of individuals the kept log does not record
as trained, and `results.json` / `model/` / `models/` when they describe
individuals the kept log does not hold. The run then resumes from the
prefix: those individuals are trained again from their own keys, and the
resume says so.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from evojax_nas import config as config_lib
from evojax_nas import files
from evojax_nas.runs import ownership
from evojax_nas.evolution.events import parse, raw_lines
from evojax_nas.evolution.history import first_damage, replay
from evojax_nas import strategies
from evojax_nas.workdir import (CHECKPOINTS, EVENTS, MODEL, MODELS, POPULATION,
                                 RESULTS, read_results)

_RESULTS = (RESULTS, MODEL, MODELS)


def _ids_in(lines: list[bytes]) -> list[int]:
  """Individuals that the (readable) set-aside lines name."""
  ids = set()
  for line in lines:
    try:
      ident = parse(line).get("id")
    except ValueError:
      continue
    if isinstance(ident, int):
      ids.add(ident)
  return sorted(ids)


def _results_agree(workdir: Path, history) -> bool:
  """Whether results.json describes the kept log: as many individuals,
  its best and ensemble among those the kept log trained."""
  path = workdir / RESULTS
  if not path.is_file():
    return not (workdir / MODEL).exists()
  try:
    results = read_results(workdir)
    ids = {results["best"]["id"], *results["ensemble"]["ids"]}
    count = results["individuals"]
  except (ValueError, KeyError, TypeError):
    return False
  trained = {i.id for i in history.trained}
  return count == len(trained) and ids <= trained


def _set_aside(workdir: Path, aside: Path, kept_lines, strategy) -> list[int]:
  """Moves the artefacts the kept log does not account for into `aside`;
  returns the ids whose checkpoints moved."""
  history = replay([parse(l) for l in kept_lines if l.strip()], strategy)
  trained = {i.id for i in history.trained}
  moved = []
  ckpts = workdir / CHECKPOINTS
  for p in sorted(ckpts.iterdir()) if ckpts.is_dir() else ():
    if p.name.isdigit() and int(p.name) not in trained:
      (aside / CHECKPOINTS).mkdir(exist_ok=True)
      os.replace(p, aside / CHECKPOINTS / p.name)
      moved.append(int(p.name))
  if not _results_agree(workdir, history):
    for name in _RESULTS:
      if (workdir / name).exists():
        os.replace(workdir / name, aside / name)
  return moved


def repair(workdir: str | Path) -> dict:
  """Repairs the workdir's log; returns {"line", "reason", "kept", "moved",
  "aside", "ids", "checkpoints"} (line None: nothing to repair; ids: the
  individuals the set-aside lines name, trained again on resume;
  checkpoints: those whose checkpoints were set aside)."""
  workdir = Path(workdir).absolute()
  log_path = workdir / EVENTS
  if not log_path.is_file():
    raise config_lib.ConfigError(f"{workdir} has no {EVENTS}: nothing to "
                                 "repair")
  if (workdir / POPULATION).is_dir():
    raise config_lib.ConfigError(
        f"{workdir} is a workers' experiment: its record is {POPULATION}/, "
        f"whose records are each atomic; {EVENTS} is rewritten from it "
        "when the workers finish")
  config = config_lib.from_workdir(workdir)
  with ownership.held(workdir, "a repair"):
    strategy = strategies.from_config(config)
    damage = first_damage(log_path, strategy)
    if damage is None:
      return {"line": None, "reason": None, "kept": None, "moved": 0,
              "aside": None, "ids": [], "checkpoints": []}
    line, reason = damage
    lines = raw_lines(log_path)
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = workdir / f"rejected-{stamp}"
    aside.mkdir()
    # First the lines (nothing is ever lost), then what they produced, then
    # the log: a crash in between leaves a log that repair finds again.
    files.write_atomic(aside / EVENTS, b"".join(lines[line - 1:]),
                       fsync=True)
    moved = _set_aside(workdir, aside, lines[:line - 1], strategy=strategy)
    files.write_atomic(log_path, b"".join(lines[:line - 1]), fsync=True)
    return {"line": line, "reason": reason, "kept": line - 1,
            "moved": len(lines) - line + 1, "aside": str(aside),
            "ids": _ids_in(lines[line - 1:]), "checkpoints": moved}
