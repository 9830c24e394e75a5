"""A NAS-Bench-201 cell -> the benchmark's trainable skeleton (Flax Linen).

Stem conv 3x3 (C) + BN; three stages of N cells with C, 2C, 4C channels,
joined by residual reduction blocks (stride 2); BN + ReLU, global pool,
linear classifier (Dong & Yang 2020, figure 1; the benchmark uses C=16, N=5).
Inside a cell, node j sums op(i -> j)(node i) over i < j; node 3 is the
output. Operations: none (zero), skip_connect, nor_conv_kxk (ReLU-conv-BN),
avg_pool_3x3 (stride 1).
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from evojax_nas.compile.network import HE_NORMAL, LECUN_NORMAL
from evojax_nas.genomes.nb201 import EDGES, OPS


class _ReLUConvBN(nn.Module):
  width: int
  kernel: int
  stride: int = 1
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    x = nn.Conv(self.width, (self.kernel, self.kernel), self.stride,
                padding="SAME", use_bias=False, kernel_init=HE_NORMAL,
                dtype=self.dtype, name="conv_op")(nn.relu(x))
    return nn.BatchNorm(use_running_average=not train, momentum=0.9,
                        dtype=self.dtype, name="bn")(x)


class _Cell(nn.Module):
  ops: tuple[int, ...]
  width: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    nodes = [x]
    for dst in (1, 2, 3):
      total = jnp.zeros_like(x)
      for n, (op, (src, d)) in enumerate(zip(self.ops, EDGES)):
        if d != dst:
          continue
        name, h = OPS[op], nodes[src]
        if name == "skip_connect":
          total = total + h
        elif name == "avg_pool_3x3":
          total = total + nn.avg_pool(h, (3, 3), padding="SAME",
                                      count_include_pad=False)
        elif name.startswith("nor_conv"):
          total = total + _ReLUConvBN(self.width, int(name[-1]),
                                      dtype=self.dtype,
                                      name=f"edge{n}")(h, train)
      nodes.append(total)
    return nodes[3]


class _Reduction(nn.Module):
  """The benchmark's ResNet basic block with stride 2."""
  width: int
  dtype: Any = jnp.float32

  @nn.compact
  def __call__(self, x, train):
    h = _ReLUConvBN(self.width, 3, 2, dtype=self.dtype, name="a")(x, train)
    h = _ReLUConvBN(self.width, 3, 1, dtype=self.dtype, name="b")(h, train)
    shortcut = nn.avg_pool(x, (2, 2), (2, 2))
    shortcut = nn.Conv(self.width, (1, 1), use_bias=False,
                       kernel_init=HE_NORMAL, dtype=self.dtype,
                       name="conv_shortcut")(shortcut)
    return h + shortcut


class NB201Net(nn.Module):
  ops: tuple[int, ...]
  num_classes: int
  channels: int = 16
  cells_per_stage: int = 5
  dtype: Any = jnp.float32  # compute dtype; parameters stay float32

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    c = self.channels
    x = nn.Conv(c, (3, 3), padding="SAME", use_bias=False,
                kernel_init=HE_NORMAL, dtype=self.dtype, name="conv_stem")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                     dtype=self.dtype, name="bn_stem")(x)
    for stage, width in enumerate((c, 2 * c, 4 * c)):
      if stage:
        x = _Reduction(width, dtype=self.dtype, name=f"reduce{stage}")(x, train)
      for i in range(self.cells_per_stage):
        x = _Cell(self.ops, width, dtype=self.dtype,
                  name=f"cell{stage}_{i}")(x, train)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                     dtype=self.dtype, name="bn_last")(x)
    x = jnp.mean(nn.relu(x), axis=(1, 2))
    return nn.Dense(self.num_classes, kernel_init=LECUN_NORMAL,
                    dtype=self.dtype, name="head")(x)
