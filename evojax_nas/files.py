"""Files written whole or not at all: a temporary file beside the target,
flushed, then renamed over it. An interruption (Ctrl-C, SIGTERM, SIGKILL)
leaves the old file or the new one, never half of one, and the temporary
is removed when the writer is interrupted in Python.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

from evojax_nas import stop


def temporary(path: Path) -> Path:
  """The temporary beside `path` that this process writes."""
  return path.with_name(f".{path.name}.{os.getpid()}.tmp")


def write_atomic(path: str | Path, data: bytes | str,
                 fsync: bool = False) -> Path:
  """Writes `data` to `path` atomically; returns `path`."""
  path = Path(path)
  return write_with(path, lambda tmp: _dump(tmp, data, fsync))


def _dump(tmp: Path, data: bytes | str, fsync: bool):
  with open(tmp, "wb") as f:
    f.write(data.encode("utf-8") if isinstance(data, str) else data)
    if fsync:
      f.flush()
      os.fsync(f.fileno())


def write_with(path: Path, writer: Callable[[Path], object]) -> Path:
  """`writer(tmp)` fills a temporary that then replaces `path` (a figure's
  `savefig`, NumPy's `savez`); the temporary never survives a failure."""
  path = Path(path)
  tmp = temporary(path)
  try:
    writer(tmp)
    os.replace(tmp, path)
  finally:
    tmp.unlink(missing_ok=True)
  return path


def save_figure(fig, path: str | Path, **kwargs) -> Path:
  """`fig.savefig(path)` atomically (a report stopped mid-way leaves no
  truncated PNG)."""
  path = Path(path)
  fmt = path.suffix.lstrip(".") or "png"
  return write_with(path, lambda tmp: fig.savefig(tmp, format=fmt, **kwargs))


def replace_together(pairs: list[tuple[Path, Path]]) -> None:
  """Renames every (temporary, target) pair with Ctrl-C and SIGTERM held,
  so that an interruption leaves all the old files or all the new ones."""
  with stop.held():
    for tmp, target in pairs:
      os.replace(tmp, target)


def _alive(pid: int) -> bool:
  try:
    os.kill(pid, 0)
  except ProcessLookupError:
    return False
  except PermissionError:
    return True
  return True


def remove_stale_temporaries(folder: Path) -> int:
  """Removes the temporaries in `folder` (`temporary`'s names) of
  processes that are gone (killed before they could clean up); returns
  how many."""
  n = 0
  for p in Path(folder).glob(".*.tmp") if Path(folder).is_dir() else ():
    pid = p.name.rsplit(".", 2)[-2]
    if pid.isdigit() and not _alive(int(pid)):
      p.unlink(missing_ok=True)
      n += 1
  return n
