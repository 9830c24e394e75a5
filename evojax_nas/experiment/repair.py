"""`repair(workdir)`: a damaged event log is never a dead end.

Keeps the longest prefix of `events.jsonl` that is valid JSON and replays
(every individual born once, trained and killed at most once, genomes
valid), and moves the rest aside to `events.rejected-<UTC time>.jsonl`,
never deleting a line. The run then resumes from the prefix: individuals
whose `trained` line was set aside are trained again from their own keys.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from evojax_nas import config as config_lib
from evojax_nas.experiment import ownership
from evojax_nas.experiment.history import first_damage
from evojax_nas.experiment.loop import make_strategy


def _write(path: Path, lines: list[str]):
  tmp = path.with_name(path.name + ".tmp")
  with open(tmp, "w", encoding="utf-8") as f:
    f.writelines(lines)
    f.flush()
    os.fsync(f.fileno())
  os.replace(tmp, path)


def repair(workdir: str | Path) -> dict:
  """Repairs the workdir's log; returns {"line", "reason", "kept", "moved",
  "aside"} (line None: nothing to repair)."""
  workdir = Path(workdir).absolute()
  log_path = workdir / "events.jsonl"
  if not log_path.is_file():
    raise config_lib.ConfigError(f"{workdir} has no events.jsonl: nothing to "
                                 "repair")
  if (workdir / "population").is_dir():
    raise config_lib.ConfigError(
        f"{workdir} is a workers' experiment: its record is population/, "
        "whose records are each atomic; events.jsonl is rewritten from it "
        "when the workers finish")
  config = config_lib.from_workdir(workdir)
  ownership.acquire(workdir, "a repair")
  try:
    damage = first_damage(log_path, make_strategy(config))
    if damage is None:
      return {"line": None, "reason": None, "kept": None, "moved": 0,
              "aside": None}
    line, reason = damage
    with open(log_path, encoding="utf-8") as f:
      lines = f.readlines()
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = workdir / f"events.rejected-{stamp}.jsonl"
    _write(aside, lines[line - 1:])  # first: nothing is ever lost
    _write(log_path, lines[:line - 1])
    return {"line": line, "reason": reason, "kept": line - 1,
            "moved": len(lines) - line + 1, "aside": str(aside)}
  finally:
    ownership.release(workdir)
