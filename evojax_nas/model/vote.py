"""The top-k ensemble's answer (Real et al. 2017: the two best by
validation, majority vote), once for the exported model and its portable
program."""

from __future__ import annotations

import numpy as np


def vote_scores(probabilities, xp=np):
  """Majority-vote scores from several models' (N, classes) probabilities:
  one vote per model for its top class; the probabilities, summed (at most
  k < 1 / 1e-3 of them), only break ties. `xp`: NumPy, or jax.numpy where
  the portable program traces it."""
  stacked = xp.stack(probabilities)            # (models, N, classes)
  top = stacked.argmax(-1)[..., None] == xp.arange(stacked.shape[-1])
  return top.sum(0) + 1e-3 * stacked.sum(0)


def majority_vote(probabilities: list[np.ndarray]) -> np.ndarray:
  """Predicted classes from several models' (N, classes) probabilities."""
  return np.asarray(vote_scores(probabilities)).argmax(-1)
