"""One experiment directory, one owner: an exclusive lock on WORKDIR/lock.

An in-process run (or the launcher of its workers) holds `flock` on the
lock file for as long as it runs; the OS releases it when the process dies,
so a SIGKILL never leaves a workdir stuck. A second start on the same
workdir is refused with one line naming the holder (host, pid, since when),
before it writes anything. A recycle hands the lock to the fresh process:
across `exec` the descriptor stays open, and a child started by a Python
caller gets it passed; either way `EVOJAX_NAS_WORKDIR_LOCK` says which
descriptor holds which workdir's lock. Within one process the lock is
re-entrant (counted): a run that recycled keeps it until `dispatch.run`
has handed it over and lets go.
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import json
import os
import socket
from pathlib import Path
from typing import Iterator

from evojax_nas.config import ConfigError
from evojax_nas.workdir import LOCK

ENV = "EVOJAX_NAS_WORKDIR_LOCK"  # "FD:PATH" of a lock handed over

_held: dict[str, list[int]] = {}  # lock path -> [fd, holders in process]


def _adopt(path: str) -> int | None:
  """The descriptor a recycled predecessor handed over for `path`."""
  fd_text, _, held_path = os.environ.get(ENV, "").partition(":")
  if held_path != path or not fd_text.isdigit():
    return None
  fd = int(fd_text)
  try:
    if os.path.samestat(os.fstat(fd), os.stat(path)):
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # ours: succeeds
      return fd
  except OSError:
    pass
  return None


def acquire(workdir: str | Path, role: str) -> None:
  """Takes the workdir's lock for this process (`role` says who holds it);
  ConfigError naming the holder if another process has it."""
  path = str(Path(workdir).absolute() / LOCK)
  if path in _held:
    _held[path][1] += 1
    return
  fd = _adopt(path)
  if fd is None:
    try:
      fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as err:
      raise ConfigError(f"cannot open {path} ({err.strerror}): is the "
                        "workdir writable?") from None
    try:
      fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
      holder = _describe(fd)
      os.close(fd)
      raise ConfigError(
          f"workdir {Path(workdir).absolute()} is in use by {holder}; wait "
          "for it to finish (or stop it), or use another --workdir") from None
    os.ftruncate(fd, 0)
    os.pwrite(fd, json.dumps({
        "host": socket.gethostname(), "pid": os.getpid(), "role": role,
        "since": datetime.datetime.now().astimezone().isoformat(
            timespec="seconds")}).encode(), 0)
  _held[path] = [fd, 1]


@contextlib.contextmanager
def held(workdir: str | Path, role: str) -> Iterator[None]:
  """The workdir's lock for the block (`acquire`, then `release`)."""
  acquire(workdir, role)
  try:
    yield
  finally:
    release(workdir)


def holder(workdir: str | Path) -> str | None:
  """Who holds the workdir's lock (another process), or None if it is
  free; takes nothing."""
  path = Path(workdir).absolute() / LOCK
  if str(path) in _held or not path.is_file():
    return None
  fd = os.open(path, os.O_RDONLY)
  try:
    try:
      fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
      return _describe(fd)
    fcntl.flock(fd, fcntl.LOCK_UN)
    return None
  finally:
    os.close(fd)


def _describe(fd: int) -> str:
  try:
    h = json.loads(os.pread(fd, 4096, 0) or b"{}")
    return (f"{h['role']} on host {h['host']}, pid {h['pid']}, since "
            f"{h['since']}")
  except (OSError, ValueError, KeyError):
    return "another process"


def release(workdir: str | Path) -> None:
  """Gives up this process's hold (the lock goes with the last one)."""
  path = str(Path(workdir).absolute() / LOCK)
  entry = _held.get(path)
  if entry is None:
    return
  entry[1] -= 1
  if entry[1] <= 0:
    del _held[path]
    os.close(entry[0])  # closing the descriptor releases the flock


def hand_over() -> tuple[list[int], dict[str, str]]:
  """Lets every lock this process holds survive `exec` or pass to a child:
  makes the descriptors inheritable and returns them with the environment
  variable that names them."""
  fds, env = [], {}
  for path, (fd, _) in _held.items():
    os.set_inheritable(fd, True)
    env[ENV] = f"{fd}:{path}"
    fds.append(fd)
  return fds, env
