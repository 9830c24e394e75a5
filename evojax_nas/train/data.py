"""CIFAR-10 / CIFAR-100 with the paper's 45k / 5k / 10k split.

Sources, in order:
  1. a local folder (`data.dir`, else $EVOJAX_NAS_DATA_DIR) holding any of
     - the canonical python archive `cifar-10-python.tar.gz` (or
       `cifar-100-python.tar.gz`) or its extracted `cifar-10-batches-py/`
       (`cifar-100-python/`) folder;
     - image folders `train/<class>/*.{jpg,png}` and `test/<class>/...`, or
       the archives `train.tar.gz` and `test.tar.gz` holding them;
     also one level down (e.g. `DIR/cifar10-jpeg/train.tar.gz`);
  2. without a folder: the canonical archive in the data cache's
     `downloads/`, verified against its published MD5, downloaded there
     once if missing (from `data.url`, default the data set's home page;
     download.py);
  3. tensorflow-datasets, when installed (`pip install evojax-nas[tfds]`)
     and the download failed.
The decoded arrays are cached as
one `.npz` file (`data.cache_dir`, else $EVOJAX_NAS_CACHE, else
~/.cache/evojax_nas) so a second start reads them in a second. The cache is
keyed by the source's content (an archive's SHA-256, computed once per size
and modification time and remembered in `hashes.json`; a folder's file
names, sizes and times) and carries a digest of its arrays, checked on load:
a replaced archive or a damaged cache is decoded again, never trusted.
CIFAR python archives are unpickled by a restricted unpickler that admits
only what the format holds (numpy arrays, lists, dicts, strings, numbers),
so a data folder cannot run code.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import logging
import os
import pickle
import tarfile
from pathlib import Path
from typing import Callable

import numpy as np

from evojax_nas import files
from evojax_nas.datasets import (CACHE_DIR_ENV, DATA_DIR_ENV, DatasetInfo,
                                 dataset_info)
from evojax_nas.train import download as download_lib

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")

log = logging.getLogger("evojax_nas")


class DataError(ValueError):
  """The data set cannot be found or read."""


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
  # SHA-256 of the decoded images, labels and class names (before the
  # split): what the data is, wherever it lies (an experiment records it).
  digest: str = ""

  @property
  def num_classes(self) -> int:
    return len(self.class_names)


# --- readers: each returns (train_x, train_y, test_x, test_y, class_names) ---

class _CifarUnpickler(pickle.Unpickler):
  """Admits only the globals a CIFAR python batch holds (numpy arrays);
  anything else, e.g. `os.system`, is refused before it runs."""

  ALLOWED = {("numpy", "ndarray"), ("numpy", "dtype"),
             ("numpy.core.multiarray", "_reconstruct"),
             ("numpy._core.multiarray", "_reconstruct"),
             ("numpy.core.multiarray", "scalar"),
             ("numpy._core.multiarray", "scalar"),
             ("_codecs", "encode")}

  def find_class(self, module, name):
    if (module, name) not in self.ALLOWED:
      raise DataError(f"a CIFAR batch may hold numpy arrays and plain "
                      f"values only, this one asks for {module}.{name}: not "
                      "loading it (is the data folder trusted?)")
    return super().find_class(module, name)


def _unpickle(data: bytes) -> dict:
  return _CifarUnpickler(io.BytesIO(data), encoding="latin1").load()


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


def _check_classes(where, classes, info: DatasetInfo):
  """Before anything is decoded: the class count must be the data set's."""
  if len(classes) != info.num_classes:
    raise DataError(f"{where} has {len(classes)} classes, {info.name} has "
                    f"{info.num_classes}: point data.dir at a copy of "
                    f"{info.name} or set data.name to match")


def _image_blobs_from_tar(path: Path, info: DatasetInfo
                          ) -> dict[str, list[bytes]]:
  blobs: dict[str, list[bytes]] = {}
  with tarfile.open(path) as tar:
    members = [m for m in sorted(tar.getmembers(), key=lambda m: m.name)
               if m.isfile() and Path(m.name).suffix.lower() in _IMAGE_SUFFIXES]
    _check_classes(path, {Path(m.name).parent.name for m in members}, info)
    for m in members:
      blobs.setdefault(Path(m.name).parent.name, []).append(
          tar.extractfile(m).read())
  return blobs


def _image_blobs_from_folder(path: Path, info: DatasetInfo
                             ) -> dict[str, list[bytes]]:
  dirs = [d for d in sorted(path.iterdir()) if d.is_dir()]
  _check_classes(path, dirs, info)
  return {d.name: [f.read_bytes() for f in sorted(d.iterdir())
                   if f.suffix.lower() in _IMAGE_SUFFIXES] for d in dirs}


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
      return d, lambda: _image_folders(
          _image_blobs_from_tar(d / "train.tar.gz", info),
          _image_blobs_from_tar(d / "test.tar.gz", info))
    if (d / "train").is_dir() and (d / "test").is_dir():
      return d, lambda: _image_folders(
          _image_blobs_from_folder(d / "train", info),
          _image_blobs_from_folder(d / "test", info))
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


_HOW = ("Put {archive}, its extracted {folder}/, or train/ and test/ class "
        "folders (or train.tar.gz and test.tar.gz) in a folder and pass "
        "--config.data.dir=FOLDER or set ${env}; or pip install "
        "'evojax-nas[tfds]'")


def _missing(info: DatasetInfo, root: Path | None, exists: bool = True
             ) -> DataError:
  how = _HOW.format(archive=info.python_archive, folder=info.python_folder,
                    env=DATA_DIR_ENV)
  if root is None:
    return DataError(f"{info.name} not found: no folder given (data.dir or "
                     f"${DATA_DIR_ENV}). {how}")
  if not exists:
    return DataError(f"data folder {root} (data.dir or ${DATA_DIR_ENV}) does "
                     f"not exist. {how}")
  return DataError(f"{info.name} not found: nothing usable in {root}. {how}")


def _file_hash(path: Path, cache_dir: Path) -> str:
  """SHA-256 of a file, computed once per (path, size, mtime) and
  remembered in `cache_dir/hashes.json`."""
  st = path.stat()
  key = f"{path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
  known_path = cache_dir / "hashes.json"
  try:
    known = json.loads(known_path.read_text())
  except (OSError, ValueError):
    known = {}
  if key not in known:
    h = hashlib.sha256()
    with open(path, "rb") as f:
      for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    known[key] = h.hexdigest()
    files.write_atomic(known_path, json.dumps(known, indent=0,
                                              sort_keys=True))
  return known[key]


def _content_key(source: Path, cache_dir: Path) -> str:
  """What the decoded arrays depend on: the archives' hashes, or the names,
  sizes and times of a folder's files."""
  if source.is_file():
    return _file_hash(source, cache_dir)
  archives = [source / "train.tar.gz", source / "test.tar.gz"]
  if all(a.is_file() for a in archives) and not (source / "train").is_dir():
    return "|".join(_file_hash(a, cache_dir) for a in archives)
  listing = []
  for f in sorted(source.rglob("*")):
    if f.is_file():
      st = f.stat()
      listing.append(f"{f.relative_to(source)}|{st.st_size}|{st.st_mtime_ns}")
  return hashlib.sha256("\n".join(listing).encode()).hexdigest()


def _cache_path(cache_dir: Path, info: DatasetInfo, source: Path) -> Path:
  tag = hashlib.sha256(f"{info.name}|{_content_key(source, cache_dir)}"
                       .encode()).hexdigest()[:16]
  return cache_dir / f"{info.name}-{tag}.npz"


def _digest(tx, ty, sx, sy, names) -> str:
  h = hashlib.sha256()
  for a in (tx, ty, sx, sy):
    a = np.ascontiguousarray(a)
    h.update(f"{a.dtype}{a.shape}".encode())
    h.update(a.data)
  h.update("|".join(names).encode())
  return h.hexdigest()


def _read_cache(cache: Path):
  """The cached arrays and their digest, or None (logged) if the file is
  torn or does not match its digest."""
  try:
    with np.load(cache) as z:
      arrays = (z["train_x"], z["train_y"], z["test_x"], z["test_y"],
                tuple(z["class_names"].tolist()))
      digest = str(z["digest"])
  except Exception as err:  # pylint: disable=broad-except
    log.warning("data cache %s is unreadable (%s); decoding the data again",
                cache, type(err).__name__)
    return None
  if _digest(*arrays) != digest:
    log.warning("data cache %s does not match its digest (changed after it "
                "was written); decoding the data again", cache)
    return None
  return (*arrays, digest)


def _offline(info: DatasetInfo, cache: Path, err: Exception) -> DataError:
  return DataError(
      f"{info.name}: no data folder given (data.dir or ${DATA_DIR_ENV}) and "
      f"{err}; nothing was written to the data cache {cache}. Run again "
      f"online (it downloads once), set data.url to a mirror, or put "
      f"{info.python_archive} in a folder and pass --config.data.dir=FOLDER "
      f"or set ${DATA_DIR_ENV}")


def _cache_folder(cache_dir: str | None) -> Path:
  """The data cache's folder, created (one line if it cannot be), with
  the temporaries of killed writers removed."""
  cdir = Path(cache_dir or os.environ.get(CACHE_DIR_ENV)
              or Path.home() / ".cache" / "evojax_nas").expanduser()
  try:
    cdir.mkdir(parents=True, exist_ok=True)
  except OSError as err:
    raise DataError(
        f"cannot create the data cache folder {cdir} ({err.strerror}): set "
        f"data.cache_dir or ${CACHE_DIR_ENV} to a writable folder") from None
  files.remove_stale_temporaries(cdir)
  return cdir


def _write_cache(cache: Path, arrays, digest: str):
  """The decoded arrays as one .npz, written whole or not at all (a
  Ctrl-C mid-way leaves no temporary behind)."""
  tx, ty, sx, sy, names = arrays

  def savez(tmp: Path):
    with open(tmp, "wb") as f:
      np.savez(f, train_x=tx, train_y=ty, test_x=sx, test_y=sy,
               class_names=np.array(names), digest=np.array(digest))
  files.write_with(cache, savez)


def _read_raw(info: DatasetInfo, data_dir: str | None, cache_dir: str | None,
              url: str | None = None):
  root = data_dir or os.environ.get(DATA_DIR_ENV) or None
  cdir = _cache_folder(cache_dir)
  if not root:  # the cache's download, a new download, then tfds
    try:
      root = download_lib.fetch(info.python_archive, cdir, url).parent
    except download_lib.DownloadError as err:
      raw = _from_tfds(info)
      if raw is None:
        raise _offline(info, cdir, err) from None
      return (*raw, f"tfds:{info.tfds_name}", _digest(*raw))
  root_path = Path(root).expanduser()
  if not root_path.is_dir():
    raise _missing(info, root_path, exists=False)
  source, reader = _find_source(root_path, info)
  if source is None:
    raise _missing(info, root_path)
  cache = _cache_path(cdir, info, source)
  if cache.is_file():
    arrays = _read_cache(cache)
    if arrays is not None:
      return (*arrays[:5], str(source), arrays[5])
  try:
    tx, ty, sx, sy, names = reader()
  except DataError:
    raise
  except Exception as err:  # pylint: disable=broad-except
    # Truncated archives, bad pickles, undecodable images: all one error.
    raise DataError(f"cannot read {info.name} from {source}: "
                    f"{type(err).__name__}: {err}") from None
  _check_classes(source, names, info)
  digest = _digest(tx, ty, sx, sy, names)
  _write_cache(cache, (tx, ty, sx, sy, names), digest)
  return tx, ty, sx, sy, names, str(source), digest


def load(name: str = "cifar10", data_dir: str | None = None,
         cache_dir: str | None = None, val_size: int = 5000,
         split_seed: int = 0, train_size: int | None = None,
         url: str | None = None) -> Dataset:
  """Loads a data set and holds out `val_size` training images (fixed seed).

  `train_size` caps the remaining training split (for tests and demos);
  `url`: where to download the archive from when no folder is given
  (default the data set's home page).
  """
  info = dataset_info(name)
  tx, ty, sx, sy, names, source, digest = _read_raw(info, data_dir,
                                                    cache_dir, url)
  _check_classes(source, names, info)
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
      std=pixels.std(0).astype(np.float32), source=source, digest=digest)
