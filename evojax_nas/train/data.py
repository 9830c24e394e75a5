"""CIFAR-10 / CIFAR-100 with the paper's 45k / 5k / 10k split.

Sources, in order:
  1. a local folder (`data.dir`, else $EVOJAX_NAS_DATA_DIR) holding any of
     - the canonical python archive `cifar-10-python.tar.gz` (or
       `cifar-100-python.tar.gz`) or its extracted `cifar-10-batches-py/`
       (`cifar-100-python/`) folder;
     - image folders `train/<class>/*.{jpg,png}` and `test/<class>/...`, or
       the archives `train.tar.gz` and `test.tar.gz` holding them;
     also one level down (e.g. `DIR/cifar10-jpeg/train.tar.gz`);
  2. tensorflow-datasets, when installed (`pip install evojax-nas[tfds]`).
Nothing is downloaded unless tfds does it. The decoded arrays are cached as
one `.npz` file (`data.cache_dir`, else $EVOJAX_NAS_CACHE, else
~/.cache/evojax_nas) so a second start reads them in a second.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import pickle
import tarfile
from pathlib import Path
from typing import Callable

import numpy as np

DATA_DIR_ENV = "EVOJAX_NAS_DATA_DIR"
CACHE_DIR_ENV = "EVOJAX_NAS_CACHE"
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")


class DataError(ValueError):
  """The data set cannot be found or read."""


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
  name: str
  num_classes: int
  python_archive: str
  python_folder: str
  tfds_name: str


DATASETS = {
    "cifar10": DatasetInfo("cifar10", 10, "cifar-10-python.tar.gz",
                           "cifar-10-batches-py", "cifar10"),
    "cifar100": DatasetInfo("cifar100", 100, "cifar-100-python.tar.gz",
                            "cifar-100-python", "cifar100"),
}


@dataclasses.dataclass
class Dataset:
  """Host arrays: uint8 images (N, 32, 32, 3), int32 labels."""
  name: str
  class_names: tuple[str, ...]
  train_images: np.ndarray
  train_labels: np.ndarray
  val_images: np.ndarray
  val_labels: np.ndarray
  test_images: np.ndarray
  test_labels: np.ndarray
  mean: np.ndarray  # per channel, of the training split, in [0, 1] units
  std: np.ndarray
  source: str

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


def dataset_info(name: str) -> DatasetInfo:
  if name not in DATASETS:
    raise ValueError(f"unknown data set {name!r}; valid choices: "
                     f"{sorted(DATASETS)}")
  return DATASETS[name]


# --- readers: each returns (train_x, train_y, test_x, test_y, class_names) ---

def _unpickle(data: bytes) -> dict:
  return pickle.loads(data, encoding="latin1")


def _rows_to_images(rows) -> np.ndarray:
  return np.asarray(rows, np.uint8).reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)


def _read_python(files: Callable[[str], bytes], info: DatasetInfo):
  if info.name == "cifar10":
    parts = [_unpickle(files(f"data_batch_{i}")) for i in range(1, 6)]
    test = _unpickle(files("test_batch"))
    names = _unpickle(files("batches.meta"))["label_names"]
    key = "labels"
    train_x = np.concatenate([_rows_to_images(p["data"]) for p in parts])
    train_y = np.concatenate([np.asarray(p[key]) for p in parts])
  else:
    train = _unpickle(files("train"))
    test = _unpickle(files("test"))
    names = _unpickle(files("meta"))["fine_label_names"]
    key = "fine_labels"
    train_x, train_y = _rows_to_images(train["data"]), np.asarray(train[key])
  return (train_x, train_y, _rows_to_images(test["data"]),
          np.asarray(test[key]), tuple(names))


def _python_archive(path: Path, info: DatasetInfo):
  with tarfile.open(path) as tar:
    members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
    return _read_python(lambda n: tar.extractfile(members[n]).read(), info)


def _python_folder(path: Path, info: DatasetInfo):
  return _read_python(lambda n: (path / n).read_bytes(), info)


def _decode(blobs_by_class: dict[str, list[bytes]], class_names):
  from PIL import Image  # pylint: disable=g-import-not-at-top
  images, labels = [], []
  for label, name in enumerate(class_names):
    for blob in blobs_by_class.get(name, []):
      img = Image.open(io.BytesIO(blob)).convert("RGB")
      if img.size != (32, 32):
        img = img.resize((32, 32))
      images.append(np.asarray(img, np.uint8))
      labels.append(label)
  return np.stack(images), np.asarray(labels, np.int32)


def _image_blobs_from_tar(path: Path) -> dict[str, list[bytes]]:
  blobs: dict[str, list[bytes]] = {}
  with tarfile.open(path) as tar:
    for m in sorted(tar.getmembers(), key=lambda m: m.name):
      p = Path(m.name)
      if m.isfile() and p.suffix.lower() in _IMAGE_SUFFIXES:
        blobs.setdefault(p.parent.name, []).append(tar.extractfile(m).read())
  return blobs


def _image_blobs_from_folder(path: Path) -> dict[str, list[bytes]]:
  return {d.name: [f.read_bytes() for f in sorted(d.iterdir())
                   if f.suffix.lower() in _IMAGE_SUFFIXES]
          for d in sorted(path.iterdir()) if d.is_dir()}


def _image_folders(train_blobs, test_blobs):
  class_names = tuple(sorted(train_blobs))
  if tuple(sorted(test_blobs)) != class_names:
    raise DataError("train and test image folders have different classes: "
                    f"{sorted(train_blobs)} vs {sorted(test_blobs)}")
  return (*_decode(train_blobs, class_names), *_decode(test_blobs, class_names),
          class_names)


def _find_source(root: Path, info: DatasetInfo):
  """(description, reader) for the first accepted layout in or under root."""
  candidates = [root] + sorted(p for p in root.iterdir() if p.is_dir())
  for d in candidates:
    if (d / info.python_archive).is_file():
      f = d / info.python_archive
      return f, lambda: _python_archive(f, info)
    if (d / info.python_folder).is_dir():
      f = d / info.python_folder
      return f, lambda: _python_folder(f, info)
    if d.name == info.python_folder:
      return d, lambda: _python_folder(d, info)
    if (d / "train.tar.gz").is_file() and (d / "test.tar.gz").is_file():
      return d, lambda: _image_folders(_image_blobs_from_tar(d / "train.tar.gz"),
                                       _image_blobs_from_tar(d / "test.tar.gz"))
    if (d / "train").is_dir() and (d / "test").is_dir():
      return d, lambda: _image_folders(_image_blobs_from_folder(d / "train"),
                                       _image_blobs_from_folder(d / "test"))
  return None, None


def _from_tfds(info: DatasetInfo):
  try:
    import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  except ImportError:
    return None
  try:
    data, ds_info = tfds.load(info.tfds_name, batch_size=-1, as_supervised=True,
                              with_info=True)
  except Exception as err:  # pylint: disable=broad-except
    raise DataError(f"tensorflow-datasets could not provide {info.name} "
                    f"({type(err).__name__}: {err}); put a local copy in a "
                    f"folder and set data.dir or ${DATA_DIR_ENV}") from None
  tx, ty = tfds.as_numpy(data["train"])
  sx, sy = tfds.as_numpy(data["test"])
  names = tuple(ds_info.features["label"].names)
  return tx, ty, sx, sy, names


def _missing(info: DatasetInfo, root: Path | None) -> DataError:
  where = (f"nothing usable in {root}" if root else
           f"no folder given (data.dir or ${DATA_DIR_ENV})")
  return DataError(
      f"{info.name} not found: {where}. Put {info.python_archive}, its "
      f"extracted {info.python_folder}/, or train/ and test/ class folders "
      "(or train.tar.gz and test.tar.gz) in a folder and pass "
      f"--config.data.dir=FOLDER or set ${DATA_DIR_ENV}; or "
      "pip install 'evojax-nas[tfds]'")


def _cache_path(cache_dir: Path, info: DatasetInfo, source: Path) -> Path:
  st = source.stat()
  tag = hashlib.sha1(f"{source.resolve()}|{st.st_size}|{st.st_mtime_ns}"
                     .encode()).hexdigest()[:12]
  return cache_dir / f"{info.name}-{tag}.npz"


def _read_raw(info: DatasetInfo, data_dir: str | None, cache_dir: str | None):
  root = data_dir or os.environ.get(DATA_DIR_ENV) or None
  if root:
    root_path = Path(root).expanduser()
    if not root_path.is_dir():
      raise DataError(f"data folder {root_path} does not exist; "
                      + str(_missing(info, None)).split(": ", 1)[1])
    source, reader = _find_source(root_path, info)
    if source is None:
      raise _missing(info, root_path)
    cdir = Path(cache_dir or os.environ.get(CACHE_DIR_ENV)
                or Path.home() / ".cache" / "evojax_nas").expanduser()
    cache = _cache_path(cdir, info, source)
    if cache.is_file():
      try:
        with np.load(cache) as z:
          return (z["train_x"], z["train_y"], z["test_x"], z["test_y"],
                  tuple(z["class_names"].tolist()), str(source))
      except Exception:  # pylint: disable=broad-except
        cache.unlink(missing_ok=True)  # a torn cache file: decode again
    try:
      tx, ty, sx, sy, names = reader()
    except DataError:
      raise
    except Exception as err:  # pylint: disable=broad-except
      # Truncated archives, bad pickles, undecodable images: all one error.
      raise DataError(f"cannot read {info.name} from {source}: "
                      f"{type(err).__name__}: {err}") from None
    cdir.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(f".{os.getpid()}.tmp.npz")
    np.savez(tmp, train_x=tx, train_y=ty, test_x=sx, test_y=sy,
             class_names=np.array(names))
    os.replace(tmp, cache)
    return tx, ty, sx, sy, names, str(source)
  raw = _from_tfds(info)
  if raw is None:
    raise _missing(info, None)
  return (*raw, f"tfds:{info.tfds_name}")


def load(name: str = "cifar10", data_dir: str | None = None,
         cache_dir: str | None = None, val_size: int = 5000,
         split_seed: int = 0, train_size: int | None = None) -> Dataset:
  """Loads a data set and holds out `val_size` training images (fixed seed).

  `train_size` caps the remaining training split (for tests and demos).
  """
  info = dataset_info(name)
  tx, ty, sx, sy, names, source = _read_raw(info, data_dir, cache_dir)
  if len(names) != info.num_classes:
    raise DataError(f"{source} has {len(names)} classes, {info.name} has "
                    f"{info.num_classes}")
  if not 0 < val_size < len(tx):
    raise DataError(f"val_size={val_size} must be in (0, {len(tx)})")
  order = np.random.default_rng(split_seed).permutation(len(tx))
  val_idx, train_idx = order[:val_size], order[val_size:]
  if train_size:
    train_idx = train_idx[:train_size]
  train_x = tx[train_idx]
  pixels = train_x.reshape(-1, train_x.shape[-1]).astype(np.float64) / 255.0
  return Dataset(
      name=info.name, class_names=tuple(names),
      train_images=train_x, train_labels=ty[train_idx].astype(np.int32),
      val_images=tx[val_idx], val_labels=ty[val_idx].astype(np.int32),
      test_images=sx, test_labels=np.asarray(sy, np.int32),
      mean=pixels.mean(0).astype(np.float32),
      std=pixels.std(0).astype(np.float32), source=source)
