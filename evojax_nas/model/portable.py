"""The found model as a portable artefact: a serialized `jax.export`
program (StableHLO) with the weights folded in, runnable without evojax-nas
(or Flax) by anyone with JAX:

    import jax, numpy as np
    exp = jax.export.deserialize(open("model.jaxexport", "rb").read())
    # (JAX's export serialization needs the flatbuffers package)
    probs = exp.call(images_uint8_nhwc)          # (N, classes)

Two programs, one per input type, each for any batch size (a symbolic
batch dimension) and lowered for CPU, CUDA and TPU: `FILE` takes uint8 RGB
(0–255), `FILE` with `.float32` before its suffix takes float32 RGB in
[0, 1]. Both output class probabilities (an ensemble: vote scores whose
argmax is its majority vote, ties broken by the summed probabilities, as
results.json scores it). `FILE.json` states the input contract, the class
names, the accuracies and the architecture.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Sequence

import jax
import jax.numpy as jnp
import numpy as np
from jax import export as jax_export

from evojax_nas import files
from evojax_nas.model.exported import Model
from evojax_nas.model.vote import vote_scores

PLATFORMS = ("cpu", "cuda", "tpu")


def _scores(models: Sequence[Model], images: jnp.ndarray) -> jnp.ndarray:
  """Probabilities of one model, majority-vote scores of several."""
  x = images.astype(jnp.float32)
  if images.dtype == jnp.uint8:
    x = x / 255.0
  probs = []
  for m in models:
    z = (x - m.mean) / m.std
    probs.append(jax.nn.softmax(m.module.apply(m.variables, z, train=False)))
  if len(probs) == 1:
    return probs[0]
  return vote_scores(probs, jnp)


def float_path(out: Path) -> Path:
  """The float32 program beside the uint8 one: `model.float32.jaxexport`."""
  return out.with_name(f"{out.stem}.float32{out.suffix}")


def outputs(out: str | Path) -> list[Path]:
  """The files an export to `out` writes: the uint8 program, its float32
  twin and the contract."""
  out = Path(out)
  return [out, float_path(out), out.with_name(out.name + ".json")]


def export_portable(models: Sequence[Model], out: str | Path, info: dict,
                    platforms: Sequence[str] = PLATFORMS) -> Path:
  """Writes the programs of `models` (one, or an ensemble) and their
  contract `out.json` as one set: all three are written to temporaries
  first and renamed together (Ctrl-C and SIGTERM held), so an interrupted
  export leaves the previous set whole; the contract records each
  program's SHA-256. Returns the contract's path."""
  out = Path(out)
  out.parent.mkdir(parents=True, exist_ok=True)
  blobs = _programs(models, out, info["image_shape"], platforms=platforms)
  contract = _contract(models, blobs, info, platforms=platforms)
  contract_path = outputs(out)[2]
  _write_together(
      blobs + [(contract_path, json.dumps(contract, indent=1).encode())])
  return contract_path


def _programs(models, out: Path, image_shape, platforms) -> list:
  """(path, serialized program) for the uint8 and the float32 input."""
  h, w, c = image_shape
  (batch,) = jax_export.symbolic_shape("batch")
  blobs = []
  for dtype, path in (("uint8", out), ("float32", float_path(out))):
    spec = jax.ShapeDtypeStruct((batch, h, w, c), jnp.dtype(dtype))
    exp = jax_export.export(jax.jit(lambda x: _scores(models, x)),
                            platforms=tuple(platforms))(spec)
    blobs.append((path, bytes(exp.serialize())))
  return blobs


def _contract(models, blobs, info: dict, platforms) -> dict:
  """What a user needs to call the programs without this package."""
  first = models[0]
  h, w, c = info["image_shape"]
  dtypes = ("uint8", "float32")
  return {
      "format": "jax.export (StableHLO), weights folded in",
      "load": "jax.export.deserialize(open(FILE, 'rb').read()).call(images)",
      "requires": f"jax (written by {jax.__version__}) and flatbuffers; not "
                  "evojax-nas, not Flax",
      "programs": {d: path.name for d, (path, _) in zip(dtypes, blobs)},
      "sha256": {d: hashlib.sha256(blob).hexdigest()
                 for d, (_, blob) in zip(dtypes, blobs)},
      "platforms": list(platforms),
      "input": {"layout": "NHWC, RGB, any batch size",
                "shape": ["batch", h, w, c],
                "uint8": "pixel values 0-255",
                "float32": "pixel values in [0, 1]"},
      "output": ("class probabilities (batch, classes)" if len(models) == 1
                 else "majority-vote scores (batch, classes): argmax is "
                      "the ensemble's class"),
      "class_names": list(first.class_names),
      "preprocessing": {"mean": np.asarray(first.mean).tolist(),
                        "std": np.asarray(first.std).tolist(),
                        "note": "applied inside the program"},
      "jax_version": jax.__version__,
      **info}


def _write_together(blobs) -> None:
  """Each (path, bytes) to a temporary, then all renamed at once."""
  temporaries = []
  try:
    for path, blob in blobs:
      temporaries.append((files.temporary(path), path))
      temporaries[-1][0].write_bytes(blob)
    files.replace_together(temporaries)
  finally:
    for tmp, _ in temporaries:
      tmp.unlink(missing_ok=True)
