"""Compiled programs kept on disk, shared by every run on a machine.

The layers engine's unit programs (and the shared batch preparation, the
evaluation input, the head) are keyed by shapes, not by architectures, so
the next experiment on a machine needs many of the programs the last one
compiled (16-35 % from a run of another seed, nearly all from a re-run;
docs/performance.md). The split engine's step and predict programs are
keyed by the architecture's signature: a re-run, a resumed run and the
workers on the machine find them. JAX's persistent cache would find them
only after tracing and lowering each (the key is the lowered module) and
keeps one copy per CPU device; here a program is found by its key before
anything is traced, and loads onto any CPU device in milliseconds
(compile/relocate.py).

A file's name hashes the key with everything else that shapes the program:
the step configuration, XLA's options, the JAX and jaxlib versions, the
source of the code that builds the programs, and the host's CPU (XLA:CPU
compiles for the cores it runs on, and a home directory may be shared by
hosts of other kinds). Writes are atomic (a temporary file renamed), so
several processes share a store; when a run opens it, the least recently
used files past `max_bytes` are removed.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import pickle
import platform
import tempfile
import time
from pathlib import Path

import jax
import jaxlib
from jax.experimental import serialize_executable

from evojax_nas.compile import relocate as relocate_lib

log = logging.getLogger("evojax_nas")

ENV = "EVOJAX_NAS_CACHE_DIR"
_CODE = ("layers.py", "network.py", "augment.py", "steps.py", "modules.py",
         "nb201_network.py", "genetic_cnn_network.py")


def default_directory() -> Path:
  """$EVOJAX_NAS_CACHE_DIR, else $XDG_CACHE_HOME/evojax_nas, else
  ~/.cache/evojax_nas; the programs in its `programs` folder."""
  root = os.environ.get(ENV) or os.path.join(
      os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"),
      "evojax_nas")
  return Path(root) / "programs"


@functools.cache
def _environment() -> str:
  """What, besides a program's key, decides its machine code."""
  here = Path(__file__).parent
  code = hashlib.sha256(b"".join((here / f).read_bytes() for f in _CODE))
  cpu = platform.machine() + platform.processor()
  try:  # the instruction sets LLVM may use on this host
    with open("/proc/cpuinfo", encoding="utf-8") as f:
      cpu += "".join(sorted({l for l in f if l.startswith(
          ("flags", "model name", "Features", "CPU part"))}))
  except OSError:
    pass
  return repr((jax.__version__, jaxlib.__version__, code.hexdigest(), cpu))


class ProgramStore:
  """Serialized single-device programs in `directory`, by key."""

  def __init__(self, directory: str | Path, max_bytes: int = 1 << 30):
    self.directory = Path(directory)
    self.max_bytes = max_bytes
    self.directory.mkdir(parents=True, exist_ok=True)
    self.prune()

  def _path(self, key) -> Path:
    digest = hashlib.sha256(repr((key, _environment())).encode())
    return self.directory / f"{digest.hexdigest()}.program"

  def load(self, key, device):
    """The program stored under `key`, loaded onto `device`, or None."""
    path = self._path(key)
    try:
      blob = path.read_bytes()
      program = relocate_lib.load(pickle.loads(blob), device)
    except FileNotFoundError:
      return None
    except (OSError, EOFError, pickle.PickleError, ValueError,
            TypeError) as err:  # truncated by a crash, or foreign: drop it
      log.warning("dropping unreadable stored program %s (%s)", path, err)
      path.unlink(missing_ok=True)
      return None
    if program is not None:
      os.utime(path)  # recently used
    return program

  def save(self, key, compiled, device) -> None:
    """Stores `compiled` (a program on `device`) under `key`; nothing where
    it cannot be serialized."""
    try:
      payload = pickle.dumps((serialize_executable.serialize(compiled),
                              device.id))
    except (RuntimeError, ValueError, TypeError, AttributeError,
            pickle.PickleError) as err:
      log.debug("cannot store a program (%s)", err)
      return
    path = self._path(key)
    try:
      fd, tmp = tempfile.mkstemp(dir=self.directory, suffix=".tmp")
      with os.fdopen(fd, "wb") as f:
        f.write(payload)
      os.replace(tmp, path)
    except OSError as err:  # a full disk loses a cache entry, not the run
      log.warning("cannot write %s (%s)", path, err)

  def prune(self) -> None:
    """Removes the least recently used programs past `max_bytes`, and
    temporary files a killed process left (older than an hour)."""
    for path in self.directory.glob("*.tmp"):
      try:
        if time.time() - path.stat().st_mtime > 3600:
          path.unlink(missing_ok=True)
      except OSError:
        continue
    files = []
    for path in self.directory.glob("*.program"):
      try:
        stat = path.stat()
      except OSError:  # removed meanwhile by another process
        continue
      files.append((stat.st_mtime, stat.st_size, path))
    total = sum(size for _, size, _ in files)
    for _, size, path in sorted(files):
      if total <= self.max_bytes:
        break
      path.unlink(missing_ok=True)
      total -= size
