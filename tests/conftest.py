"""Shared fixtures: synthetic CIFAR data in every accepted layout, tiny configs.

The synthetic images are learnable by design: each class has its own mean
colour plus noise, so even the paper's trivial model (global pool + linear)
rises well above chance within a few dozen steps.
"""

import os
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

# Several host devices for the data-parallel tests; set before JAX starts.
os.environ.setdefault("XLA_FLAGS", "--xla_force_host_platform_device_count=2")



@pytest.fixture(autouse=True)
def _program_store(tmp_path, monkeypatch):
  """Each test its own machine program store (compile/program_store.py):
  nothing shared between tests, nothing written to the user's ~/.cache."""
  monkeypatch.setenv("EVOJAX_NAS_CACHE_DIR", str(tmp_path / "machine_cache"))


REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog",
           "horse", "ship", "truck")


def synthetic_images(n: int, num_classes: int = 10, seed: int = 0):
  rng = np.random.default_rng(seed)
  labels = rng.integers(0, num_classes, n).astype(np.int64)
  palette = np.random.default_rng(123).integers(30, 226, (num_classes, 3))
  noise = rng.normal(0, 25, (n, 32, 32, 3))
  images = np.clip(palette[labels][:, None, None, :] + noise, 0, 255)
  return images.astype(np.uint8), labels


def _rows(images):
  return images.transpose(0, 3, 1, 2).reshape(len(images), -1)


def write_cifar10_python(folder: Path, n_train=600, n_test=200):
  """The canonical cifar-10-batches-py layout (5 train batches + test)."""
  folder.mkdir(parents=True)
  x, y = synthetic_images(n_train, seed=1)
  for i, part in enumerate(np.array_split(np.arange(n_train), 5), 1):
    (folder / f"data_batch_{i}").write_bytes(pickle.dumps(
        {"data": _rows(x[part]), "labels": y[part].tolist()}))
  tx, ty = synthetic_images(n_test, seed=2)
  (folder / "test_batch").write_bytes(pickle.dumps(
      {"data": _rows(tx), "labels": ty.tolist()}))
  (folder / "batches.meta").write_bytes(pickle.dumps(
      {"label_names": list(CLASSES)}))
  return x, y, tx, ty


def write_cifar100_python(folder: Path, n_train=400, n_test=100):
  folder.mkdir(parents=True)
  x, y = synthetic_images(n_train, 100, seed=3)
  tx, ty = synthetic_images(n_test, 100, seed=4)
  (folder / "train").write_bytes(pickle.dumps(
      {"data": _rows(x), "fine_labels": y.tolist()}))
  (folder / "test").write_bytes(pickle.dumps(
      {"data": _rows(tx), "fine_labels": ty.tolist()}))
  (folder / "meta").write_bytes(pickle.dumps(
      {"fine_label_names": [f"c{i:02d}" for i in range(100)]}))
  return x, y, tx, ty


def write_image_folders(root: Path, n_train=300, n_test=100, fmt="PNG"):
  """train/<class>/*.png and test/<class>/*.png."""
  from PIL import Image
  out = {}
  for split, n, seed in (("train", n_train, 5), ("test", n_test, 6)):
    x, y = synthetic_images(n, seed=seed)
    for i, (img, label) in enumerate(zip(x, y)):
      d = root / split / CLASSES[label]
      d.mkdir(parents=True, exist_ok=True)
      Image.fromarray(img).save(d / f"{i:05d}.{fmt.lower()}", fmt)
    out[split] = (x, y)
  return out


def tar_folder(src: Path, archive: Path, arcname: str):
  with tarfile.open(archive, "w:gz") as tar:
    tar.add(src, arcname=arcname)


@pytest.fixture(scope="session")
def cifar10_dir(tmp_path_factory):
  """A data folder holding a synthetic cifar-10-batches-py."""
  root = tmp_path_factory.mktemp("cifar10")
  write_cifar10_python(root / "cifar-10-batches-py")
  return root


@pytest.fixture
def cache_dir(tmp_path):
  return tmp_path / "cache"


@pytest.fixture
def tiny_config(cifar10_dir, tmp_path):
  """A config that trains tiny models on the synthetic data in seconds."""
  from evojax_nas.config import default_config
  c = default_config()
  c.population_size = 3
  c.steps_per_individual = 8
  c.max_individuals = 6
  c.progress = False
  c.data.dir = str(cifar10_dir)
  c.data.cache_dir = str(tmp_path / "cache")
  c.data.val_size = 100
  c.train.batch_size = 20
  c.train.chunk_steps = 2
  c.train.eval_batch_size = 100
  return c


@pytest.fixture
def tiny_genetic_config(tiny_config):
  """The tiny config as a Genetic CNN run: 4 strings of two 3-node stages,
  trained from scratch, two generations after generation 0."""
  c = tiny_config
  c.strategy = "genetic"
  c.search_space = "genetic_cnn"
  c.population_size = 4
  c.max_individuals = 0
  c.max_generations = 2
  c.weight_inheritance = False
  c.genetic_cnn.nodes = (3, 3)
  c.genetic_cnn.widths = (4, 4)
  c.genetic_cnn.fc_width = 8
  return c


@pytest.fixture(autouse=True)
def _no_internet(monkeypatch):
  """Downloads without a URL go to a closed loopback port: no test reaches
  the data sets' home page (tests serve their archives themselves)."""
  from evojax_nas.train import download
  monkeypatch.setattr(download, "HOME", "http://127.0.0.1:9/")


@pytest.fixture(autouse=True)
def _no_persistent_compile_cache_across_tests():
  """Experiments point JAX's persistent cache at their workdir; one test's
  cache must not serve (and hide the compiles of) the next test."""
  yield
  from evojax_nas.compile import persistent_cache
  persistent_cache.disable()


def train_one_chunk(net, state, images, labels, lr, idx=None, seed=1):
  """One `train_dispatch` of `net` on rows `idx` (default: the first rows) of
  `images`/`labels`, unit standardisation, augmentation stream `seed`; `lr`
  one rate for every step or one per step."""
  import jax
  import jax.numpy as jnp
  cfg = net.cfg
  if idx is None:
    idx = jnp.arange(cfg.chunk_steps * cfg.batch_size, dtype=jnp.int32
                     ).reshape(cfg.chunk_steps, cfg.batch_size) % len(labels)
  return net.train_dispatch(state, images, labels, idx, jnp.int32(0),
                            jax.random.key(seed, impl="rbg"),
                            jnp.zeros(3), jnp.ones(3), jnp.broadcast_to(
                                jnp.asarray(lr, jnp.float32),
                                (cfg.steps_per_dispatch,)))


def write_cli_config(path: Path, data_dir, cache_dir, **fields) -> Path:
  """A config file for the command line: the tiny config on `data_dir`,
  with `fields` (e.g. max_individuals=14) on top."""
  settings = {"population_size": 3, "steps_per_individual": 40,
              "progress": False, "data.dir": str(data_dir),
              "data.cache_dir": str(cache_dir), "data.val_size": 100,
              "train.batch_size": 20, "train.chunk_steps": 2,
              "train.eval_batch_size": 100, **fields}
  path.write_text(
      "from evojax_nas.config import default_config\n"
      "def get_config():\n"
      "  c = default_config()\n"
      + "".join(f"  c.{k} = {v!r}\n" for k, v in settings.items())
      + "  return c\n")
  return path


# --- the loop without training --------------------------------------------------
def fake_fitness(genome) -> float:
  """A validation accuracy that only the genome decides (its architecture
  and its learning rate)."""
  return (int(genome.signature_hash()[:8], 16) / 16**8
          + genome.learning_rate) % 1.0


def fake_costs(genome) -> dict:
  """Costs that only the genome's architecture decides."""
  h = int(genome.signature_hash()[8:16], 16)
  return {"flops": h % 100_000, "params": h % 997, "latency": h % 89 / 10}


@pytest.fixture
def fitness_from_signature(monkeypatch):
  """Training replaced by `fake_fitness` (nothing compiles, no checkpoint,
  no results): the loop's choices alone, independent of the CPU's
  floating-point arithmetic. Yields the number of evaluations so far."""
  from evojax_nas.runs import results as results_lib
  from evojax_nas.train import trainer as trainer_lib
  calls = []

  def evaluate(self, key, ident, genome, parent, **kwargs):
    del self, key, kwargs
    calls.append(ident)
    acc = fake_fitness(genome)
    return trainer_lib.Result(
        id=ident, val_accuracy=acc, test_accuracy=None, train_loss=1.0 - acc,
        train_accuracy=acc, steps=8, flops={"train_step": 1, "eval_batch": 1,
                                            "total": 10},
        inherited=("parent",) if parent else (), partial=(), fresh=(),
        seconds={}, costs=fake_costs(genome))
  monkeypatch.setattr(trainer_lib.Trainer, "train_and_validate", evaluate)
  monkeypatch.setattr(results_lib, "finalize", lambda *a, **k: {})
  yield calls
