"""Genome -> Flax module, for every search space of the engine.

Genomes stay free of Flax; this is the one place that knows which module
each genome type compiles to. The module depends on `genome.signature()`
alone, which is what the step cache is keyed by.
"""

from __future__ import annotations

import flax.linen as nn
import jax.numpy as jnp

from evojax_nas.compile.genetic_cnn_network import GeneticCNNNet
from evojax_nas.compile.nb201_network import NB201Net
from evojax_nas.compile.network import DNANet
from evojax_nas.genomes.dna import DNA
from evojax_nas.genomes.genetic_cnn import GeneticCNN
from evojax_nas.genomes.nb201 import Cell


def build_module(genome, num_classes: int, dtype=jnp.float32) -> nn.Module:
  """`genome`'s network computing in `dtype` (bfloat16 on accelerators:
  convolutions and activations; parameters and batch statistics stay
  float32)."""
  if isinstance(genome, DNA):
    return DNANet(signature=genome.signature(), num_classes=num_classes,
                  dtype=dtype)
  if isinstance(genome, GeneticCNN):
    return GeneticCNNNet(stages=genome.decode(), widths=genome.widths,
                         fc_width=genome.fc_width, dropout=genome.dropout,
                         num_classes=num_classes, dtype=dtype)
  if isinstance(genome, Cell):
    return NB201Net(ops=genome.ops, num_classes=num_classes,
                    channels=genome.channels,
                    cells_per_stage=genome.cells_per_stage, dtype=dtype)
  raise TypeError(f"no network for genome type {type(genome).__name__}")
