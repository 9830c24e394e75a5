"""Recombination and escape options of Large-Scale Evolution (section 5).

The paper tried three recombination forms and two ways of freeing a trapped
population; all are options of the steady-state strategies, off by default:
  * "mutation_probabilities": every individual carries its own mutation
    probability distribution (Tuson & Ross 1998), resampled in [1/2, 2]x at
    each birth; a recombined child takes its structure from one parent and
    the distribution from another;
  * "weights": a recombined child averages the trained weights of its two
    parents wherever a layer matches in identity and shape
    (`train.inheritance.blend`);
  * "side_by_side": a recombined child fuses both parents' architectures
    side by side: every backbone convolution gets the channels of both
    (possible when the two backbones align layer for layer);
The two escapes of the same section (a period of raised mutation rate,
population-wide weight resets) are the reproduction loop's: see
genomes/escape.py (the schedule) and evolution/loop.py.
"""

from __future__ import annotations

import jax
import numpy as np

from evojax_nas.genomes.dna import DNA, validate

RECOMBINATION_MODES = ("none", "mutation_probabilities", "weights",
                       "side_by_side")


def perturb_weights(key: jax.Array, weights: dict[str, float]
                    ) -> dict[str, float]:
  """Each relative mutation weight times U[1/2, 2] (the paper's rule for
  numerical parameters), so the distribution itself evolves."""
  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
  return {k: float(v * rng.uniform(0.5, 2.0)) for k, v in
          sorted(weights.items())}


def side_by_side(a: DNA, b: DNA) -> DNA | None:
  """`a` with every backbone convolution as wide as in `a` and `b` together,
  or None when the backbones do not align (different depth, kinds, filters,
  strides or activations)."""
  if len(a.vertices) != len(b.vertices):
    return None
  widths = {}
  for va, vb in zip(a.vertices[1:], b.vertices[1:]):
    ea, eb = a.backbone_edge(va.id), b.backbone_edge(vb.id)
    if (va.activation != vb.activation or ea.kind != eb.kind or
        (ea.kind == "conv" and (ea.kernel_size != eb.kernel_size or
                                ea.stride_int != eb.stride_int))):
      return None
    if ea.kind == "conv":
      widths[ea.id] = ea.channels + eb.channels
  if not widths:
    return None
  return validate(a.replace(edges=tuple(
      e.replace(channels=widths[e.id]) if e.id in widths else e
      for e in a.edges)))
