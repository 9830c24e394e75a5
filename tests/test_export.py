"""The portable artefact: `evojax_nas export` writes jax.export programs that
a fresh Python process without evojax-nas (or Flax) runs, reproducing the
reported test accuracy to the last image."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evojax_nas import run
from evojax_nas.train import data

# Runs in a fresh interpreter: JAX and NumPy only.
CHILD = """
import json, sys
import numpy as np
import jax
program, float_program, images, labels = sys.argv[1:5]
x = np.load(images)
y = np.load(labels)
exp = jax.export.deserialize(open(program, "rb").read())
scores = np.asarray(exp.call(x))
half = np.asarray(exp.call(x[:7]))  # any batch size
exp32 = jax.export.deserialize(open(float_program, "rb").read())
scores32 = np.asarray(exp32.call(x.astype(np.float32) / 255.0))
print(json.dumps({
    "correct": int((scores.argmax(-1) == y).sum()),
    "shape": list(scores.shape),
    "batch_of_7": bool(np.allclose(half, scores[:7], atol=1e-6)),
    "float_agrees": float(np.mean(scores32.argmax(-1) == scores.argmax(-1))),
    "ours_loaded": sorted(m for m in sys.modules
                          if m.split(".")[0] in ("evojax_nas", "flax")),
}))
"""


def cli(*args):
  return subprocess.run([sys.executable, "-m", "evojax_nas", *args],
                        capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def finished(cifar10_dir, tmp_path_factory):
  from evojax_nas.config import default_config
  tmp = tmp_path_factory.mktemp("export")
  c = default_config()
  c.population_size, c.steps_per_individual, c.max_individuals = 3, 30, 8
  c.progress, c.tensorboard = False, False
  c.data.dir, c.data.cache_dir = str(cifar10_dir), str(tmp / "cache")
  c.data.val_size, c.train.batch_size = 100, 20
  c.train.chunk_steps, c.train.eval_batch_size = 2, 100
  results = run(c, tmp / "wd")
  ds = data.load("cifar10", c.data.dir, c.data.cache_dir, 100)
  np.save(tmp / "x.npy", ds.test_images)
  np.save(tmp / "y.npy", ds.test_labels)
  return tmp, results


@pytest.mark.slow
@pytest.mark.parametrize("which", ["best", "ensemble"])
def test_a_fresh_process_without_us_reproduces_the_test_accuracy(finished,
                                                                 which):
  tmp, results = finished
  out = tmp / which / "model.jaxexport"
  flags = ["--ensemble"] if which == "ensemble" else []
  done = cli("export", f"--workdir={tmp / 'wd'}", f"--out={out}", *flags)
  assert done.returncode == 0, done.stderr[-3000:]
  contract = json.loads((tmp / which / "model.jaxexport.json").read_text())
  assert contract["programs"] == {"uint8": "model.jaxexport",
                                  "float32": "model.float32.jaxexport"}
  assert len(contract["class_names"]) == 10
  child = subprocess.run(
      [sys.executable, "-c", CHILD, str(out),
       str(tmp / which / "model.float32.jaxexport"), str(tmp / "x.npy"),
       str(tmp / "y.npy")], capture_output=True, text=True, timeout=600,
      cwd=tmp)
  assert child.returncode == 0, child.stderr[-3000:]
  got = json.loads(child.stdout.strip().splitlines()[-1])
  n = len(np.load(tmp / "y.npy"))
  reported = (results["ensemble"] if which == "ensemble"
              else results["best"])["test_accuracy"]
  assert contract["test_accuracy"] == reported
  assert got["correct"] == round(reported * n)  # to the last image
  assert got["shape"] == [n, 10] and got["batch_of_7"]
  assert got["float_agrees"] >= 0.99
  assert got["ours_loaded"] == []


def test_export_of_an_unknown_individual_is_one_line(finished):
  tmp, _ = finished
  done = cli("export", f"--workdir={tmp / 'wd'}", "--individual=999",
             f"--out={tmp / 'x.jaxexport'}")
  assert done.returncode == 2
  assert done.stderr.strip().splitlines()[-1].startswith(
      "evojax_nas export: error: individual 999 of ")
  assert not (tmp / "x.jaxexport").exists()
