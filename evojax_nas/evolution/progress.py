"""A progress bar for long runs: individuals done / budget, best validation
accuracy, elapsed and ETA. Silent when stderr is not a terminal (logs).

Its postfix says where the time goes: the shares of the slots' time spent
compiling (on the critical path) and idle (events.time_split).
With an individuals (or steps) budget the bar counts individuals; with only a
time budget it counts experiment seconds, so its ETA is the budget's end.
"""

from __future__ import annotations

import sys

from tqdm.auto import tqdm

from evojax_nas import config as config_lib
from evojax_nas.evolution.events import time_split


class Progress:

  def __init__(self, config, history, clock, enabled: bool = True):
    self._history = history
    self._clock = clock
    max_steps, time_budget_s = config_lib.search_budgets(config)
    total = config.max_individuals or (
        max_steps // config.steps_per_individual if max_steps else 0)
    if config.strategy == "genetic" and config.max_generations:
      total = min(total or 10**9,
                  (config.max_generations + 1) * config.population_size)
    self._by_time = not total and bool(time_budget_s)
    disable = not (enabled and sys.stderr.isatty())
    if self._by_time:
      self._bar = tqdm(total=round(time_budget_s), unit="s",
                       initial=min(round(clock()), round(time_budget_s)),
                       dynamic_ncols=True, disable=disable)
    else:
      self._bar = tqdm(total=total or None, initial=len(history.trained),
                       unit="ind", dynamic_ncols=True, disable=disable)
    self._refresh()

  def _refresh(self):
    top = self._history.top(1)
    post = {"best_val": f"{top[0].val_accuracy:.4f}" if top else "-",
            "alive": len(self._history.alive)}
    if self._by_time:
      post["individuals"] = len(self._history.trained)
    wall = self._clock()
    if wall > 0 and self._history.trained:
      split = time_split([i.trained for i in self._history.trained], wall)
      post["compile"] = f"{split['shares']['compile']:.0%}"
      post["idle"] = f"{split['shares']['idle']:.0%}"
    self._bar.set_postfix(post, refresh=True)

  def update(self):
    if self._by_time:
      self._bar.update(max(0, min(round(self._clock()), self._bar.total)
                           - self._bar.n))
    else:
      self._bar.update(1)
    self._refresh()

  def __enter__(self):
    return self

  def __exit__(self, *exc):
    self._bar.close()
