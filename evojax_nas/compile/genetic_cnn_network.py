"""Decoded Genetic CNN stages -> Flax Linen module (Xie & Yuille 2017).

Every node is conv 3x3 + BN + ReLU on the sum of its inputs; layer names
`conv_s<stage>_n<node>` (node 0 and K+1 are the default input and output
nodes), so checkpoints of two strings line up by node.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax.numpy as jnp

from evojax_nas.compile.network import HE_NORMAL, LECUN_NORMAL


class GeneticCNNNet(nn.Module):
  stages: tuple           # of genomes.genetic_cnn.Stage
  widths: tuple[int, ...]
  fc_width: int
  dropout: float
  num_classes: int
  dtype: Any = jnp.float32  # compute dtype; parameters stay float32

  def _node(self, x, width, name, train):
    x = nn.Conv(width, (3, 3), padding="SAME", kernel_init=HE_NORMAL,
                dtype=self.dtype, name=f"conv_{name}")(x)
    x = nn.BatchNorm(use_running_average=not train, momentum=0.9,
                     dtype=self.dtype, name=f"bn_{name}")(x)
    return nn.relu(x)

  @nn.compact
  def __call__(self, x: jnp.ndarray, train: bool = False) -> jnp.ndarray:
    for s, (stage, width) in enumerate(zip(self.stages, self.widths), 1):
      x = self._node(x, width, f"s{s}_n0", train)
      if stage.nodes:
        out = {0: x}
        for node, inputs in stage.nodes:
          out[node] = self._node(sum(out[i] for i in inputs), width,
                                 f"s{s}_n{node}", train)
        last = max(n for n, _ in stage.nodes) + 1
        x = self._node(sum(out[i] for i in stage.outputs), width,
                       f"s{s}_n{last}", train)
      x = nn.max_pool(x, (3, 3), strides=(2, 2), padding="SAME")
    x = x.reshape((x.shape[0], -1))
    x = nn.relu(nn.Dense(self.fc_width, kernel_init=LECUN_NORMAL,
                         dtype=self.dtype, name="fc")(x))
    x = nn.Dropout(self.dropout, deterministic=not train)(x)
    return nn.Dense(self.num_classes, kernel_init=LECUN_NORMAL,
                    dtype=self.dtype, name="head")(x)
