"""A found architecture scaled for its final training: wider, deeper.

Genomes are frozen, so scaling returns a new one. Width multiplies every
convolution's channels (the DNA's conv edges; Genetic CNN's stage widths, as
its transfers adjust them; the NAS-Bench-201 skeleton's C). Depth repeats
cells where the space has cells (NAS-Bench-201: N cells per stage, as
Regularized Evolution repeats its cells); the DNA and Genetic CNN strings
have no repeated unit, so their depth stays 1. Layer names do not change,
so inheritance ("overlap") still finds every layer of the found model.
"""

from __future__ import annotations

import dataclasses

from evojax_nas.genomes.dna import DNA, GenomeError
from evojax_nas.genomes.genetic_cnn import GeneticCNN
from evojax_nas.genomes.nb201 import Cell


def _times(n: int, width: float, least: int = 1) -> int:
  return max(least, int(round(n * width)))


def _scale_dna(dna: DNA, width: float, least: int) -> DNA:
  # Stored channels are floats rounded when built: scale the effective
  # integer, so x2 doubles exactly what the network had.
  return dna.replace(edges=tuple(
      e.replace(channels=float(_times(e.out_channels, width, least)))
      if e.kind == "conv" else e for e in dna.edges))


def scale(genome, width: float = 1.0, depth: int = 1, min_channels: int = 0):
  """`genome` with `width` x channels (and at least `min_channels` in every
  convolution, beyond the papers: a narrow layer the search left behind
  stops being the network's bottleneck) and `depth` x repeated cells;
  GenomeError where the space has no notion of depth."""
  least = max(1, min_channels)
  if width == 1.0 and depth == 1 and least == 1:
    return genome
  if isinstance(genome, Cell):
    return dataclasses.replace(
        genome, channels=_times(genome.channels, width, least),
        cells_per_stage=genome.cells_per_stage * depth)
  if depth != 1:
    raise GenomeError(
        f"retrain.depth={depth}: a {type(genome).__name__} genome has no "
        "repeated cell to stack (depth applies to NAS-Bench-201 cells); use "
        "retrain.width")
  if isinstance(genome, DNA):
    return _scale_dna(genome, width, least)
  if isinstance(genome, GeneticCNN):
    return dataclasses.replace(genome, widths=tuple(
        _times(w, width, least) for w in genome.widths))
  raise GenomeError(f"cannot scale a {type(genome).__name__} genome")
