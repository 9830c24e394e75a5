"""Loaders for every accepted layout, the split, the cache and the errors."""

import os
import pickle

import numpy as np
import pytest

from evojax_nas.train import data
from conftest import (REAL_DATA, tar_folder, write_cifar10_python,
                      write_cifar100_python, write_image_folders)


def _check_split(ds, n_train_total, n_test, val_size):
  assert len(ds.val_labels) == val_size
  assert len(ds.train_labels) == n_train_total - val_size
  assert len(ds.test_labels) == n_test
  assert ds.train_images.dtype == np.uint8
  assert ds.train_images.shape[1:] == (32, 32, 3)


def test_python_folder_and_archive_give_the_same_arrays(tmp_path):
  x, y, tx, ty = write_cifar10_python(tmp_path / "a" / "cifar-10-batches-py")
  tar_folder(tmp_path / "a" / "cifar-10-batches-py",
             (tmp_path / "b").mkdir() or tmp_path / "b" / "cifar-10-python.tar.gz",
             "cifar-10-batches-py")
  a = data.load("cifar10", str(tmp_path / "a"), str(tmp_path / "c1"), 100)
  b = data.load("cifar10", str(tmp_path / "b"), str(tmp_path / "c2"), 100)
  _check_split(a, 600, 200, 100)
  np.testing.assert_array_equal(a.test_images, tx)
  np.testing.assert_array_equal(a.test_labels, ty)
  for field in ("train_images", "train_labels", "val_images", "test_images"):
    np.testing.assert_array_equal(getattr(a, field), getattr(b, field))
  # The split is a fixed-seed permutation: train + val = all, disjoint.
  all_train = np.concatenate([a.train_images, a.val_images])
  assert sorted(map(bytes, all_train)) == sorted(map(bytes, x))
  assert a.class_names[0] == "airplane"
  np.testing.assert_allclose(a.mean, a.train_images.reshape(-1, 3).mean(0) / 255,
                             rtol=1e-4)


def test_image_folders_and_their_archives(tmp_path):
  arrays = write_image_folders(tmp_path / "plain")
  os.mkdir(tmp_path / "tars")
  for split in ("train", "test"):
    tar_folder(tmp_path / "plain" / split, tmp_path / "tars" / f"{split}.tar.gz",
               split)
  a = data.load("cifar10", str(tmp_path / "plain"), str(tmp_path / "c1"), 50)
  b = data.load("cifar10", str(tmp_path / "tars"), str(tmp_path / "c2"), 50)
  _check_split(a, 300, 100, 50)
  np.testing.assert_array_equal(a.test_images, b.test_images)
  # PNG is lossless: every test image comes back exactly, in class order.
  tx, ty = arrays["test"]
  order = np.lexsort((np.arange(len(ty)), ty))
  np.testing.assert_array_equal(a.test_labels, ty[order])
  np.testing.assert_array_equal(a.test_images, tx[order])


def test_cifar100_python_layout(tmp_path):
  write_cifar100_python(tmp_path / "cifar-100-python")
  ds = data.load("cifar100", str(tmp_path), str(tmp_path / "cache"), 50)
  _check_split(ds, 400, 100, 50)
  assert ds.num_classes == 100


def test_second_load_reads_the_cache(tmp_path, monkeypatch):
  write_cifar10_python(tmp_path / "d" / "cifar-10-batches-py")
  first = data.load("cifar10", str(tmp_path / "d"), str(tmp_path / "cache"), 100)
  assert len(list((tmp_path / "cache").glob("cifar10-*.npz"))) == 1
  monkeypatch.setattr(data, "_read_python", lambda *a: pytest.fail("decoded"))
  second = data.load("cifar10", str(tmp_path / "d"), str(tmp_path / "cache"), 100)
  np.testing.assert_array_equal(first.train_images, second.train_images)


def test_environment_variable_names_the_folder(tmp_path, monkeypatch):
  write_cifar10_python(tmp_path / "cifar-10-batches-py")
  monkeypatch.setenv(data.DATA_DIR_ENV, str(tmp_path))
  monkeypatch.setenv(data.CACHE_DIR_ENV, str(tmp_path / "cache"))
  assert len(data.load("cifar10", None, None, 100).test_labels) == 200


def test_missing_data_is_one_clear_error(tmp_path, monkeypatch):
  monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
  monkeypatch.setattr(data, "_from_tfds", lambda info: None)
  with pytest.raises(data.DataError, match="cifar-10-python.tar.gz"):
    data.load("cifar10", None, str(tmp_path / "cache"))
  with pytest.raises(data.DataError, match=rf"data folder {tmp_path}/nowhere "
                     r"\(data.dir or \$EVOJAX_NAS_DATA_DIR\) does not exist\. "
                     "Put"):
    data.load("cifar10", str(tmp_path / "nowhere"))
  with pytest.raises(data.DataError, match=f"nothing usable in {tmp_path}"):
    data.load("cifar10", str(tmp_path))
  with pytest.raises(ValueError, match="valid choices"):
    data.load("mnist", str(tmp_path))


def test_truncated_archive_is_reported(tmp_path):
  write_cifar10_python(tmp_path / "src" / "cifar-10-batches-py")
  (tmp_path / "d").mkdir()
  archive = tmp_path / "d" / "cifar-10-python.tar.gz"
  tar_folder(tmp_path / "src" / "cifar-10-batches-py", archive,
             "cifar-10-batches-py")
  archive.write_bytes(archive.read_bytes()[:2000])
  with pytest.raises(data.DataError, match="cannot read cifar10"):
    data.load("cifar10", str(tmp_path / "d"), str(tmp_path / "cache"), 100)


def test_an_archive_replaced_in_place_is_decoded_again(tmp_path):
  """The cache is keyed by the archives' content, not the folder's."""
  write_image_folders(tmp_path / "a")
  (tmp_path / "d").mkdir()
  for split in ("train", "test"):
    tar_folder(tmp_path / "a" / split, tmp_path / "d" / f"{split}.tar.gz",
               split)
  cache = tmp_path / "cache"
  first = data.load("cifar10", str(tmp_path / "d"), str(cache), 10)
  # Same folder, same file names: a smaller copy of the training images.
  write_image_folders(tmp_path / "b", n_train=200)
  tar_folder(tmp_path / "b" / "train", tmp_path / "d" / "train.tar.gz",
             "train")
  second = data.load("cifar10", str(tmp_path / "d"), str(cache), 10)
  assert len(first.train_labels) == 290 and len(second.train_labels) == 190
  assert len(list(cache.glob("cifar10-*.npz"))) == 2


def test_a_poisoned_cache_is_detected_and_rebuilt(tmp_path, caplog):
  write_cifar10_python(tmp_path / "d" / "cifar-10-batches-py")
  clean = data.load("cifar10", str(tmp_path / "d"), str(tmp_path / "cache"),
                    100)
  (cache,) = (tmp_path / "cache").glob("cifar10-*.npz")
  with np.load(cache) as z:
    arrays = dict(z)
  arrays["train_y"] = np.zeros_like(arrays["train_y"])  # every label 0
  with open(cache, "wb") as f:
    np.savez(f, **arrays)
  again = data.load("cifar10", str(tmp_path / "d"), str(tmp_path / "cache"),
                    100)
  assert "does not match its digest" in caplog.text
  np.testing.assert_array_equal(again.train_labels, clean.train_labels)
  with np.load(cache) as z:  # rebuilt
    assert z["train_y"].any()


def test_class_count_is_checked_before_decoding(tmp_path, monkeypatch):
  write_image_folders(tmp_path / "a", n_train=40, n_test=20)  # < 100 classes
  (tmp_path / "d").mkdir()
  for split in ("train", "test"):
    tar_folder(tmp_path / "a" / split, tmp_path / "d" / f"{split}.tar.gz",
               split)
  monkeypatch.setattr(data, "_decode", lambda *a: pytest.fail("decoded"))
  with pytest.raises(data.DataError, match="has 10 classes, cifar100 has 100: "
                     "point data.dir at a copy of cifar100"):
    data.load("cifar100", str(tmp_path / "d"), str(tmp_path / "cache"), 10)
  with pytest.raises(data.DataError, match="has 10 classes, cifar100"):
    data.load("cifar100", str(tmp_path / "a" / ".."), str(tmp_path / "c2"),
              10)
  assert not list(tmp_path.glob("c*/cifar100-*.npz"))


class _Exploit:
  def __reduce__(self):
    return (os.system, ("touch pwned",))


def test_a_pickle_that_runs_code_is_refused(tmp_path, monkeypatch):
  write_cifar10_python(tmp_path / "d" / "cifar-10-batches-py")
  (tmp_path / "d" / "cifar-10-batches-py" / "batches.meta").write_bytes(
      pickle.dumps({"label_names": _Exploit()}))
  monkeypatch.chdir(tmp_path)
  with pytest.raises(data.DataError, match="asks for posix.system"):
    data.load("cifar10", str(tmp_path / "d"), str(tmp_path / "cache"), 100)
  assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (REAL_DATA / "cifar10-jpeg").is_dir(),
                    reason="the real CIFAR-10 copy (../shared/data) is absent")
def test_real_cifar10_jpeg_archives(tmp_path_factory):
  cache = os.environ.get(data.CACHE_DIR_ENV) or tmp_path_factory.mktemp("real")
  ds = data.load("cifar10", str(REAL_DATA), str(cache))
  _check_split(ds, 50000, 10000, 5000)
  assert ds.class_names == ("airplane", "automobile", "bird", "cat", "deer",
                            "dog", "frog", "horse", "ship", "truck")
  assert np.bincount(ds.test_labels).tolist() == [1000] * 10
  np.testing.assert_allclose(ds.mean, [0.491, 0.482, 0.447], atol=0.01)
  again = data.load("cifar10", str(REAL_DATA), str(cache))
  np.testing.assert_array_equal(ds.val_labels, again.val_labels)
  # Genetic CNN holds out 10,000 (Xie & Yuille 2017, 4.1): 40,000 train.
  genetic = data.load("cifar10", str(REAL_DATA), str(cache), 10_000)
  _check_split(genetic, 50000, 10000, 10_000)
