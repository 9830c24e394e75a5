"""Orbax checkpoints of individuals, one module for all of them.

`<workdir>/checkpoints/<id>/` holds one individual: an `ocp.args.Composite`
of the weights (params + batch_stats) and JSON metadata (genome, steps, and
a SHA-256 digest of the weights). Orbax writes into a temporary folder and
renames it when complete, so a folder named by a bare id is whole; no
manager keeps an in-memory list of steps, so several worker processes (or
hosts on a shared file system) can save, restore and delete side by side.
A checkpoint whose files were damaged afterwards fails the digest or Orbax's
own read and raises `CheckpointError` naming the individual.
"""

from __future__ import annotations

import hashlib
import shutil
import threading
import time
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp

_TMP_MARK = ".orbax-checkpoint-tmp"


class CheckpointError(RuntimeError):
  """A checkpoint that is missing, truncated or does not match its digest."""

  def __init__(self, individual: int, message: str):
    super().__init__(message)
    self.individual = individual


def weights_digest(variables: Any) -> str:
  """SHA-256 over every array's path, dtype, shape and bytes."""
  h = hashlib.sha256()
  for path, leaf in sorted(jax.tree_util.tree_leaves_with_path(variables),
                           key=lambda kv: jax.tree_util.keystr(kv[0])):
    a = np.ascontiguousarray(np.asarray(leaf))
    h.update(f"{jax.tree_util.keystr(path)}|{a.dtype}|{a.shape}|".encode())
    h.update(a.tobytes())
  return h.hexdigest()


class CheckpointStore:
  """Saves, restores and deletes per-individual checkpoints."""

  def __init__(self, directory: str | Path, async_save: bool = True):
    self.directory = Path(directory).absolute()
    self.directory.mkdir(parents=True, exist_ok=True)
    handler = ocp.CompositeCheckpointHandler()
    self._saver = (ocp.AsyncCheckpointer(handler) if async_save
                   else ocp.Checkpointer(handler))
    self._reader = ocp.Checkpointer(ocp.CompositeCheckpointHandler())
    # One individual's save, wait, restore or delete at a time: slots
    # (threads) of one process share the asynchronous saver.
    self._lock = threading.RLock()

  def path(self, individual: int) -> Path:
    return self.directory / str(individual)

  def ids(self) -> list[int]:
    """Individuals with a complete checkpoint folder."""
    return sorted(int(p.name) for p in self.directory.iterdir()
                  if p.name.isdigit() and p.is_dir())

  def save(self, individual: int, variables: Any, meta: dict) -> None:
    """Starts an (asynchronous) save; `wait()` before relying on it. An
    existing checkpoint of the same individual (an interrupted earlier
    attempt that got as far as saving) is replaced."""
    with self._lock:
      self._save(individual, variables, meta)

  def _save(self, individual: int, variables: Any, meta: dict) -> None:
    self.wait()
    if self.path(individual).exists():
      self.delete(individual)
    variables = jax.tree.map(np.asarray, variables)
    meta = dict(meta, weights_sha256=weights_digest(variables))
    self._saver.save(self.path(individual), args=ocp.args.Composite(
        weights=ocp.args.StandardSave(variables),
        meta=ocp.args.JsonSave(meta)))

  def wait(self) -> None:
    with self._lock:
      if hasattr(self._saver, "wait_until_finished"):  # asynchronous saver
        self._saver.wait_until_finished()

  def restore(self, individual: int, abstract_variables: Any = None
              ) -> tuple[Any, dict]:
    """(variables as host arrays, metadata); CheckpointError if missing or
    damaged."""
    with self._lock:
      return self._restore(individual, abstract_variables)

  def _restore(self, individual: int, abstract_variables: Any):
    self.wait()
    path = self.path(individual)
    if not path.is_dir():
      raise CheckpointError(individual, f"no checkpoint for individual "
                            f"{individual} at {path}")
    target = None
    if abstract_variables is not None:
      target = jax.tree.map(
          lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype), abstract_variables)
    try:
      restored = self._reader.restore(path, args=ocp.args.Composite(
          weights=ocp.args.StandardRestore(target),
          meta=ocp.args.JsonRestore()))
      variables = dict(jax.tree.map(np.asarray, restored["weights"]))
      variables.setdefault("batch_stats", {})  # empty collections are not saved
      meta = restored["meta"]
      digest = meta.get("weights_sha256")
      if digest is not None and digest != weights_digest(variables):
        raise ValueError("weights do not match the digest saved with them")
    except Exception as err:  # pylint: disable=broad-except
      raise CheckpointError(
          individual,
          f"checkpoint of individual {individual} at {path} is corrupt or "
          f"truncated ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
          ) from None
    return variables, meta

  def delete(self, individual: int) -> None:
    """Removes a checkpoint: renamed away first (atomic), so that no reader
    ever sees a half-deleted folder under the individual's name."""
    with self._lock:
      self._delete(individual)

  def _delete(self, individual: int) -> None:
    self.wait()
    path = self.path(individual)
    trash = path.with_name(f"{individual}{_TMP_MARK}-deleting-{time.time_ns()}")
    try:
      path.rename(trash)
    except FileNotFoundError:
      return
    shutil.rmtree(trash, ignore_errors=True)

  def remove_temporaries(self, older_than_s: float = 0.0) -> int:
    """Deletes unfinished save folders (left by a killed process) older than
    `older_than_s`; returns how many."""
    now, n = time.time(), 0
    for p in self.directory.iterdir():
      if _TMP_MARK in p.name:
        try:
          if now - p.stat().st_mtime >= older_than_s:
            shutil.rmtree(p, ignore_errors=True)
            n += 1
        except FileNotFoundError:
          pass
    return n

  def close(self) -> None:
    self.wait()
    self._saver.close()
