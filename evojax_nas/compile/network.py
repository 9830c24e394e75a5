"""DNA signature -> Flax Linen module.

Layers are named by the ids of the DNA (`conv_<edge id>`, `bn_<vertex id>`,
`head`), so weight inheritance is a match on parameter paths and shapes.

At a vertex the backbone edge is primary: it fixes the vertex's size and
channels. Skip inputs are resized by zeroth-order (nearest) interpolation and
truncated or zero-padded in channels (He et al. 2016), then summed.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

# He et al. (2015): conv kernels N(0, 2 / fan_in); the linear classifier
# N(0, 1 / fan_in). `sample_variables` draws the same on the host.
HE_NORMAL = nn.initializers.variance_scaling(2.0, "fan_in", "normal")
LECUN_NORMAL = nn.initializers.variance_scaling(1.0, "fan_in", "normal")


def sample_variables(abstract_variables, rng: np.random.Generator):
  """Fresh variables for a `DNANet`, drawn with NumPy from their shapes.

  The distributions of the module's initializers (He-normal convs,
  LeCun-normal head, zero biases, unit BN scales and variances), without
  compiling an init program for every new architecture (0.5-1 s each on
  XLA:CPU, as much as training a small child for 100 steps).
  """
  def leaf(path, shape):
    name, layer = path[-1].key, path[-2].key
    if name == "kernel":
      gain = 2.0 if layer.startswith("conv_") else 1.0
      std = np.sqrt(gain / np.prod(shape.shape[:-1]))
      return (rng.standard_normal(shape.shape) * std).astype(shape.dtype)
    fill = 1.0 if name in ("scale", "var") else 0.0
    return np.full(shape.shape, fill, shape.dtype)
  return jax.tree_util.tree_map_with_path(leaf, abstract_variables)


def match_shape(x: jnp.ndarray, shape: tuple[int, ...]) -> jnp.ndarray:
  """Nearest-neighbour resize of `x` (N,H,W,C) to `shape`'s H, W, C."""
  _, h, w, c = x.shape
  _, th, tw, tc = shape
  if (h, w) != (th, tw):
    rows = (np.arange(th) * h) // th
    cols = (np.arange(tw) * w) // tw
    x = x[:, rows][:, :, cols]
  if c > tc:
    x = x[..., :tc]
  elif c < tc:
    x = jnp.pad(x, ((0, 0), (0, 0), (0, 0), (0, tc - c)))
  return x


class DNANet(nn.Module):
  """The network a DNA signature describes (see `DNA.signature`)."""
  signature: tuple
  num_classes: int
  dtype: Any = jnp.float32  # compute dtype; parameters stay float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    vertices, edges = self.signature
    backbone = {e[2]: e for e in edges if not e[4]}
    skips: dict[int, list[int]] = {}
    for e in edges:
      if e[4]:
        skips.setdefault(e[2], []).append(e[1])
    acts = {}
    h = x
    for i, (vid, activation) in enumerate(vertices):
      if i > 0:
        e = backbone[vid]
        h = acts[e[1]]
        if e[3] == "conv":
          kernel, stride, channels = e[5], e[6], e[7]
          h = nn.Conv(channels, kernel, strides=stride, padding="SAME",
                      kernel_init=HE_NORMAL, dtype=self.dtype,
                      name=f"conv_{e[0]}")(h)
        for src in skips.get(vid, ()):
          h = h + match_shape(acts[src], h.shape)
      if activation == "bn_relu":
        h = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                         dtype=self.dtype, name=f"bn_{vid}")(h)
        h = nn.relu(h)
      acts[vid] = h
    h = jnp.mean(h, axis=(1, 2))
    return nn.Dense(self.num_classes, kernel_init=LECUN_NORMAL,
                    dtype=self.dtype, name="head")(h)
