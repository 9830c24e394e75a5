"""A progress bar for long runs: individuals done / budget, best validation
accuracy, elapsed and ETA. Silent when stderr is not a terminal (logs)."""

from __future__ import annotations

import sys

from tqdm.auto import tqdm


class Progress:

  def __init__(self, config, history, clock, enabled: bool = True):
    self._history = history
    total = config.max_individuals or None
    if not total and config.max_steps:
      total = config.max_steps // config.steps_per_individual
    self._time_budget = config.time_budget_s
    self._bar = tqdm(total=total, initial=len(history.trained),
                     unit="ind", dynamic_ncols=True,
                     disable=not (enabled and sys.stderr.isatty()))
    self._clock = clock
    self._refresh()

  def _refresh(self):
    top = self._history.top(1)
    best = f"{top[0].val_accuracy:.4f}" if top else "-"
    post = {"best_val": best, "alive": len(self._history.alive)}
    if self._time_budget:
      post["t"] = f"{self._clock():.0f}/{self._time_budget:.0f}s"
    self._bar.set_postfix(post, refresh=True)

  def update(self):
    self._bar.update(1)
    self._refresh()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._bar.close()
