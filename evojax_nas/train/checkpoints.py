"""Orbax checkpoints of individuals, one module for all of them.

One `CheckpointManager` over `<workdir>/checkpoints`, whose step number is the
individual's id. Each checkpoint is an `ocp.args.Composite` of the weights
(params + batch_stats) and JSON metadata (genome, accuracies). Orbax writes
into a temporary folder and renames it when complete, so a checkpoint that
`ids()` lists is whole; a damaged one raises `CheckpointError`.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import jax
import numpy as np
import orbax.checkpoint as ocp


class CheckpointError(RuntimeError):
  """A checkpoint that is missing, truncated or does not match its genome."""


class CheckpointStore:
  """Saves, restores and deletes per-individual checkpoints."""

  def __init__(self, directory: str | Path, async_save: bool = True):
    self.directory = Path(directory).absolute()
    self._manager = ocp.CheckpointManager(
        self.directory, item_names=("weights", "meta"),
        options=ocp.CheckpointManagerOptions(
            create=True, enable_async_checkpointing=async_save,
            cleanup_tmp_directories=True))

  def path(self, individual: int) -> Path:
    return self.directory / str(individual)

  def ids(self) -> list[int]:
    return list(self._manager.all_steps())

  def save(self, individual: int, variables: Any, meta: dict) -> None:
    """Starts an (asynchronous) save; `wait()` before relying on it."""
    self._manager.reload()
    if individual in self._manager.all_steps():
      self.delete(individual)
    variables = jax.tree.map(np.asarray, variables)
    self._manager.save(individual, args=ocp.args.Composite(
        weights=ocp.args.StandardSave(variables),
        meta=ocp.args.JsonSave(meta)), force=True)

  def wait(self) -> None:
    self._manager.wait_until_finished()

  def restore(self, individual: int, abstract_variables: Any = None
              ) -> tuple[Any, dict]:
    """(variables as host arrays, metadata); CheckpointError if damaged."""
    self.wait()
    path = self.path(individual)
    if not path.is_dir():
      raise CheckpointError(f"no checkpoint for individual {individual} at "
                            f"{path}")
    target = None
    if abstract_variables is not None:
      target = jax.tree.map(
          lambda s: jax.ShapeDtypeStruct(s.shape, s.dtype), abstract_variables)
    try:
      restored = self._manager.restore(individual, args=ocp.args.Composite(
          weights=ocp.args.StandardRestore(target),
          meta=ocp.args.JsonRestore()))
      variables = dict(jax.tree.map(np.asarray, restored["weights"]))
      variables.setdefault("batch_stats", {})  # empty collections are not saved
      meta = restored["meta"]
    except Exception as err:  # pylint: disable=broad-except
      raise CheckpointError(
          f"checkpoint of individual {individual} at {path} is corrupt or "
          f"truncated ({type(err).__name__}: {str(err).splitlines()[0][:200]})"
          f"; delete that folder and rerun: the individual is then dropped "
          "from the population and evolution continues") from None
    return variables, meta

  def delete(self, individual: int) -> None:
    self.wait()
    try:
      self._manager.delete(individual)
    except Exception:  # pylint: disable=broad-except
      shutil.rmtree(self.path(individual), ignore_errors=True)
    self._manager.reload()

  def close(self) -> None:
    self._manager.wait_until_finished()
    self._manager.close()
