"""Weight inheritance by (identity, shape) (Real et al. 2017, section 3.6).

Layers are named after the DNA ids (`conv_<edge>`, `bn_<vertex>`, `head`), so
a child keeps its parent's layer wherever the same layer exists in both with
the same shapes; every other layer keeps its fresh initialisation (mode
"exact", the paper's rule).

Mode "overlap" (an option of this engine, not of the paper) also carries over
the overlapping block of an array whose shape changed: the leading channels of
a widened or narrowed layer, the centred window of a resized filter. Channel
and filter-size mutations then cost little training, which matters when each
individual trains for only a few hundred steps.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flax import traverse_util

MODES = ("exact", "overlap")


def _overlap(old: np.ndarray, new: np.ndarray) -> np.ndarray:
  """`new` with the block it shares with `old` copied in; the two spatial
  axes of a conv kernel (kh, kw, in, out) are aligned on their centres."""
  out = np.array(new, copy=True)
  src, dst = [], []
  for axis, (a, b) in enumerate(zip(old.shape, new.shape)):
    n = min(a, b)
    centred = old.ndim == 4 and axis < 2
    sa, sb = ((a - n) // 2, (b - n) // 2) if centred else (0, 0)
    src.append(slice(sa, sa + n))
    dst.append(slice(sb, sb + n))
  out[tuple(dst)] = np.asarray(old)[tuple(src)]
  return out


def inherit(fresh: dict[str, Any], parent: dict[str, Any],
            mode: str = "exact") -> tuple[dict[str, Any], dict[str, list[str]]]:
  """Returns (variables, report). A layer is inherited whole when all its
  arrays match in shape, else it starts fresh ("exact") or from the
  overlapping blocks ("overlap"); the report lists layers 'inherited',
  'partial' and 'fresh'."""
  if mode not in MODES:
    raise ValueError(f"unknown inheritance mode {mode!r}; valid choices: "
                     f"{list(MODES)}")
  flat_child = traverse_util.flatten_dict(fresh)
  flat_parent = traverse_util.flatten_dict(parent)
  layers: dict[str, list[tuple]] = {}
  for path in flat_child:  # ('params' | 'batch_stats', layer, leaf)
    layers.setdefault(path[1], []).append(path)
  out, report = {}, {"inherited": [], "partial": [], "fresh": []}
  for layer, paths in sorted(layers.items()):
    olds = [flat_parent.get(p) for p in paths]
    if all(o is not None and o.shape == flat_child[p].shape
           for o, p in zip(olds, paths)):
      status = "inherited"
      out.update(zip(paths, olds))
    elif mode == "overlap" and all(
        o is not None and o.ndim == flat_child[p].ndim
        for o, p in zip(olds, paths)):
      status = "partial"
      out.update((p, _overlap(np.asarray(o), np.asarray(flat_child[p])))
                 for o, p in zip(olds, paths))
    else:
      status = "fresh"
      out.update((p, flat_child[p]) for p in paths)
    report[status].append(layer)
  variables = traverse_util.unflatten_dict(out)
  for collection in fresh:  # empty collections (no BN) vanish when flattened
    variables.setdefault(collection, {})
  return variables, report


def blend(variables: dict[str, Any], partner: dict[str, Any]
          ) -> tuple[dict[str, Any], list[str]]:
  """Averages every layer of `variables` with the same layer of `partner`
  where identity and all shapes match (weight recombination, Real et al.
  2017 section 5); returns (variables, blended layer names)."""
  flat = traverse_util.flatten_dict(variables)
  other = traverse_util.flatten_dict(partner)
  layers: dict[str, list[tuple]] = {}
  for path in flat:
    layers.setdefault(path[1], []).append(path)
  blended = []
  for layer, paths in sorted(layers.items()):
    if all(p in other and other[p].shape == flat[p].shape for p in paths):
      for p in paths:
        flat[p] = (np.asarray(flat[p]) + np.asarray(other[p])) / 2
      blended.append(layer)
  out = traverse_util.unflatten_dict(flat)
  for collection in variables:
    out.setdefault(collection, {})
  return out, blended
