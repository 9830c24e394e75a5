"""Weight inheritance by (identity, shape) (Real et al. 2017, section 3.6).

Layers are named after the DNA ids (`conv_<edge>`, `bn_<vertex>`, `head`), so
a child keeps its parent's array wherever the same path exists in both with
the same shape; everything else keeps its fresh initialisation.
"""

from __future__ import annotations

from typing import Any

from flax import traverse_util


def inherit(fresh: dict[str, Any], parent: dict[str, Any]
            ) -> tuple[dict[str, Any], dict[str, list[str]]]:
  """Returns (variables, report) where report lists 'inherited' and 'fresh'
  layers (a layer is inherited when all its arrays are)."""
  flat_child = traverse_util.flatten_dict(fresh)
  flat_parent = traverse_util.flatten_dict(parent)
  out, layer_ok = {}, {}
  for path, value in flat_child.items():
    old = flat_parent.get(path)
    ok = old is not None and tuple(old.shape) == tuple(value.shape)
    out[path] = old if ok else value
    layer = path[1]  # ('params' | 'batch_stats', layer, leaf)
    layer_ok[layer] = layer_ok.get(layer, True) and ok
  report = {"inherited": sorted(k for k, v in layer_ok.items() if v),
            "fresh": sorted(k for k, v in layer_ok.items() if not v)}
  variables = traverse_util.unflatten_dict(out)
  for collection in fresh:  # empty collections (no BN) vanish when flattened
    variables.setdefault(collection, {})
  return variables, report
