"""The exported model: `<workdir>/model/`, restored by `load_model(workdir)`.

`model.json` holds the genome, class names and input statistics; `weights/`
is an Orbax checkpoint of the variables. Restoring needs no data set and no
experiment state: shapes come from `jax.eval_shape` of the genome's network.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any, Sequence

import jax
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

from evojax_nas.compile import augment
from evojax_nas.compile.modules import build_module
from evojax_nas.genomes.formats import genome_from_json
from evojax_nas.train.checkpoints import CheckpointError, CheckpointStore
from evojax_nas.workdir import CHECKPOINTS, DATA, MODEL, MODELS


class Model:
  """A trained evolved classifier for inference on new images."""

  def __init__(self, genome, variables: Any, class_names: Sequence[str],
               mean: np.ndarray, std: np.ndarray, info: dict | None = None):
    self.genome = genome
    self.variables = variables
    self.class_names = tuple(class_names)
    self.mean = jnp.asarray(mean, jnp.float32)
    self.std = jnp.asarray(std, jnp.float32)
    self.info = info or {}
    self.module = build_module(genome, len(self.class_names))
    self._apply = jax.jit(lambda v, x, m, s: jax.nn.softmax(self.module.apply(
        v, augment.standardize(x, m, s), train=False)))

  def probabilities(self, images: np.ndarray) -> np.ndarray:
    """uint8 images (N,H,W,3) or one image (H,W,3) -> class probabilities."""
    images = np.asarray(images)
    single = images.ndim == 3
    if single:
      images = images[None]
    if images.dtype != np.uint8:
      raise ValueError("images must be uint8 RGB arrays (N, H, W, 3), got "
                       f"{images.dtype}")
    probs = np.asarray(self._apply(self.variables, images, self.mean,
                                   self.std))
    return probs[0] if single else probs

  def predict(self, images: np.ndarray) -> np.ndarray:
    """Class indices (see `class_names`)."""
    return self.probabilities(images).argmax(-1)


def export_model(directory: str | Path, genome, variables: Any,
                 class_names: Sequence[str], mean, std, info: dict) -> Path:
  """Writes the model atomically (a temporary folder renamed into place)."""
  directory = Path(directory).absolute()
  tmp = directory.with_name(directory.name + ".tmp")
  shutil.rmtree(tmp, ignore_errors=True)
  tmp.mkdir(parents=True)
  with ocp.StandardCheckpointer() as ckptr:
    ckptr.save(tmp / "weights", jax.tree.map(np.asarray, variables))
    ckptr.wait_until_finished()
  (tmp / "model.json").write_text(json.dumps({
      "genome": genome.to_json(), "class_names": list(class_names),
      "mean": np.asarray(mean).tolist(), "std": np.asarray(std).tolist(),
      **info}, indent=1))
  old = directory.with_name(directory.name + ".old")
  if directory.exists():
    shutil.rmtree(old, ignore_errors=True)
    os.replace(directory, old)
  os.replace(tmp, directory)
  shutil.rmtree(old, ignore_errors=True)
  return directory


class ModelError(ValueError):
  """An exported model that cannot be read back."""


def exported_ids(workdir: str | Path) -> list[int]:
  """Ids of the individuals exported under `<workdir>/models/` (the Pareto
  front of a run that selects on costs)."""
  root = Path(workdir) / MODELS
  return sorted(int(p.name) for p in root.iterdir()
                if p.name.isdigit()) if root.is_dir() else []


def _data_meta(workdir: Path) -> dict | None:
  """Class names and input statistics: the exported best's, else the
  experiment's data record (a run not finished yet)."""
  best = workdir / MODEL / "model.json"
  if best.is_file():
    return json.loads(best.read_text())
  recorded = workdir / DATA
  if recorded.is_file():
    d = json.loads(recorded.read_text())
    return dict(d, data=d["name"])
  return None


def _from_checkpoint(workdir: Path, individual: int) -> Model:
  """An individual whose checkpoint the run kept (the alive, the top-k),
  with the class names and input statistics of the experiment's data."""
  meta = _data_meta(workdir)
  store = CheckpointStore(workdir / CHECKPOINTS, async_save=False)
  try:
    variables, saved = store.restore(individual)
  finally:
    store.close()
  info = {k: v for k, v in meta.items()
          if k in ("data", "image_shape")} | {"id": individual}
  return Model(genome_from_json(saved["genome"]), variables,
               meta["class_names"], mean=meta["mean"], std=meta["std"],
               info=info)


def _individual(path: Path, individual: int) -> Path | Model:
  """Where individual `individual` of the run in `path` is: its exported
  folder, or (a kept checkpoint) the model itself."""
  best = path / MODEL / "model.json"
  kept = path / CHECKPOINTS / str(individual)
  if (path / MODELS / str(individual)).is_dir():
    return path / MODELS / str(individual)
  if best.is_file() and json.loads(best.read_text()).get("id") == individual:
    return path / MODEL
  if kept.is_dir() and _data_meta(path) is not None:
    try:
      return _from_checkpoint(path, individual)
    except CheckpointError as err:
      raise ModelError(str(err)) from None
  if kept.is_dir():
    raise FileNotFoundError(
        f"individual {individual} of {path} has a checkpoint, but the run "
        f"recorded neither its data ({DATA}, written by this version at "
        "the start) nor an exported model: run `evojax_nas resume "
        f"--workdir {path}` for a moment (it records them), then export")
  raise FileNotFoundError(
      f"individual {individual} of {path} was neither exported nor kept: "
      f"the exported are the best (model/) and "
      f"{exported_ids(path) or 'no others'} (a run that selects on costs "
      "exports its Pareto front); kept checkpoints: the alive and the top-k")


def _read_exported(path: Path) -> Model:
  """The model exported to `path` (model.json and weights/)."""
  try:
    meta = json.loads((path / "model.json").read_text())
    genome = genome_from_json(meta["genome"])
    module = build_module(genome, len(meta["class_names"]))
    abstract = jax.eval_shape(
        lambda k: dict(module.init(
            k, jnp.zeros((1, *meta.get("image_shape", (32, 32, 3)))),
            train=False)),
        jax.random.key(0))
    abstract.setdefault("batch_stats", {})
    with ocp.StandardCheckpointer() as ckptr:
      variables = ckptr.restore(path / "weights", abstract)
  except Exception as err:  # pylint: disable=broad-except
    first = (str(err).strip().splitlines() or [""])[0][:200]
    raise ModelError(
        f"the model in {path} is damaged ({type(err).__name__}: {first}); "
        f"export it again from the experiment's checkpoints with `evojax_nas "
        f"resume --workdir {path.parent}`") from err
  info = {k: v for k, v in meta.items()
          if k not in ("genome", "class_names", "mean", "std")}
  return Model(genome, variables, meta["class_names"], mean=meta["mean"],
               std=meta["std"], info=info)


def load_model(workdir: str | Path, individual: int | None = None) -> Model:
  """The model an experiment exported: its best (`<workdir>/model`, or that
  folder), or the individual with id `individual`: exported (the best, a
  Pareto front member in `<workdir>/models/<id>`) or with a checkpoint the
  run kept (`<workdir>/checkpoints/<id>`: the alive and the top-k)."""
  path = Path(workdir).absolute()
  if individual is not None:
    path = _individual(path, individual)
    if isinstance(path, Model):
      return path
  if (path / MODEL).is_dir():
    path = path / MODEL
  if not (path / "model.json").is_file():
    raise FileNotFoundError(f"no exported model at {path}: run the experiment "
                            "to completion first (it writes <workdir>/model)")
  return _read_exported(path)
