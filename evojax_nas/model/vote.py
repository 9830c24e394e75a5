"""The top-k ensemble's answer (Real et al. 2017: the two best by
validation, majority vote)."""

from __future__ import annotations

import numpy as np


def majority_vote(probabilities: list[np.ndarray]) -> np.ndarray:
  """Predicted classes from several models' (N, classes) probabilities."""
  stacked = np.stack(probabilities)            # (models, N, classes)
  votes = np.zeros(stacked.shape[1:])
  for p in stacked:
    votes[np.arange(len(p)), p.argmax(-1)] += 1.0
  # Probabilities sum to at most k < 1 / 1e-3: they only break ties.
  return (votes + 1e-3 * stacked.sum(0)).argmax(-1)
