"""Pareto fronts on the host (numpy, no JAX): which points no other point
dominates, and the area a 2-D front dominates. The strategies select with
them, the NAS-Bench searches score with them, and the report draws them
without loading JAX.
"""

from __future__ import annotations

import numpy as np


def non_dominated(points) -> np.ndarray:
  """Indices of the rows of `points` [n, m] (all minimised) that no other row
  dominates, ascending; for reports, results and garbage collection, on the
  host. The lexicographically first row left is never dominated; it joins
  the front and removes the rows it dominates: O(front × n) work and O(n)
  memory, for runs of many thousand individuals."""
  if len(points) == 0:
    return np.zeros(0, np.int64)
  p = np.asarray(points, np.float64).reshape(len(points), -1)
  left = np.lexsort(p.T[::-1])  # by the first objective, then the next...
  front = []
  while len(left):
    first, rest = left[0], left[1:]
    front.append(first)
    beaten = (np.all(p[first] <= p[rest], axis=1)
              & np.any(p[first] < p[rest], axis=1))
    left = rest[~beaten]
  return np.sort(np.asarray(front, np.int64))


def hypervolume(points, reference) -> float:
  """Area dominated by 2-D `points` [n, 2] (both minimised) and bounded by
  the `reference` point (points beyond it count for nothing)."""
  p = np.asarray(points, np.float64).reshape(-1, 2)
  p = p[np.all(p < np.asarray(reference, np.float64), axis=1)]
  p = p[non_dominated(p)] if len(p) else p
  p = p[np.argsort(p[:, 0])]  # first objective up, second then down
  right = np.append(p[1:, 0], reference[0])
  return float(np.sum((right - p[:, 0]) * (reference[1] - p[:, 1])))
