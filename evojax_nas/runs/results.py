"""The end of a run: best model, top-k ensemble, results.json, export.

"The best model" is the one with the highest validation accuracy; its *test*
accuracy is what gets reported (Real et al. 2017, 3.7). A generational run
(Genetic CNN) answers with its last generation (Xie & Yuille 2017,
Algorithm 1's output): the member with the highest fitness, its validation
accuracy averaged over every evaluation of its string. The ensemble is the
top-k by the same order, combining their test predictions by majority vote
(ties broken by the summed class probabilities).
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from evojax_nas.config import ConfigError
from evojax_nas.evolution.events import event_slots, time_split
from evojax_nas.model.exported import export_model
from evojax_nas.model.vote import majority_vote
from evojax_nas.train.checkpoints import CheckpointError
from evojax_nas.workdir import MODEL, MODELS, write_results

log = logging.getLogger("evojax_nas")


def ranked(history) -> list[tuple[object, float]]:
  """(individual, fitness) candidates for the result, best first: the last
  generation by averaged fitness if the run is generational, else every
  trained individual by validation accuracy (ties: the older)."""
  if history.generations:
    last = history.generations[-1]
    order = sorted(zip(last["fitness"], last["ids"]),
                   key=lambda p: (-p[0], p[1]))
    return [(history.individuals[i], float(f)) for f, i in order
            if not history.individuals[i].failed]
  return [(i, i.val_accuracy) for i in history.top(len(history.trained))]


def front_costs(config) -> tuple[str, ...]:
  """The costs of the run's Pareto front: those it selected on, else
  FLOPs per image."""
  return tuple(config.objectives)[1:] or ("flops",)


def pareto_front(config, history, trainer, export_to: Path | None = None
                 ) -> dict:
  """The trained individuals no other beats on validation accuracy and on
  every cost (`front_costs`), cheapest first, with their test accuracy:
  recorded at training time, else measured now where a checkpoint is kept
  (always for runs that select on costs), else None. With `export_to`,
  each member with a checkpoint is exported to `export_to/<id>`."""
  costs = front_costs(config)
  kept = trainer.kept()
  d, members = trainer.dataset, []
  for ind in history.front(costs):
    test, variables = ind.trained.get("test_accuracy"), None
    if ind.id in kept and (test is None or export_to is not None):
      try:
        variables = trainer.restore(ind.id, ind.genome)
      except CheckpointError as err:
        log.warning("%s: front member %d is left without a test accuracy "
                    "or export", err, ind.id)
    if test is None and variables is not None:
      test = trainer.accuracy(ind.genome, variables, "test")
    member = {"id": ind.id, "val_accuracy": ind.val_accuracy,
              "test_accuracy": test, "costs": dict(ind.trained["costs"]),
              "description": ind.genome.describe()}
    if export_to is not None and variables is not None:
      export_model(export_to / str(ind.id), ind.genome, variables,
                   class_names=d.class_names, mean=d.mean, std=d.std,
                   info={**member, "data": d.name,
                    "image_shape": list(d.train_images.shape[1:])})
    members.append(member)
  members.sort(key=lambda m: ([m["costs"][c] for c in costs], m["id"]))
  if export_to is not None and export_to.is_dir():  # left the front since
    ids = {str(m["id"]) for m in members}
    for old in export_to.iterdir():
      if old.name.isdigit() and old.name not in ids:
        shutil.rmtree(old, ignore_errors=True)
  return {"objectives": ["accuracy", *costs], "members": members}


def _check_trained(h) -> None:
  """A run with nothing to hand back ends here, with the fix."""
  if not h.trained:
    raise RuntimeError("no individual was trained: raise the budget")
  if all(i.failed for i in h.trained):
    raise ConfigError(
        f"every one of the {len(h.trained)} trained individuals failed "
        f"({h.trained[0].trained['failed']}): there is no model to hand "
        "back; lower initial_learning_rate (or train.momentum) and start a "
        "new --workdir")


def _top(config, h, trainer) -> list[tuple[Any, float, Any]]:
  """(individual, fitness, variables) of the best `ensemble_size` whose
  checkpoints are usable (kept: the top-k), best first."""
  top, kept = [], trainer.kept()
  for ind, fit in ranked(h):
    if len(top) == config.ensemble_size:
      break
    if ind.id not in kept:
      continue
    try:
      variables = trainer.restore(ind.id, ind.genome)
    except CheckpointError as err:
      log.warning("%s: individual %d is left out of the results", err,
                  ind.id)
      continue
    top.append((ind, fit, variables))
  if not top:
    raise CheckpointError(-1, f"no usable checkpoint in "
                          f"{trainer.checkpoints.directory}")
  return top


def _best_entry(h, best, fit, test: float) -> dict:
  return {"id": best.id, "val_accuracy": best.val_accuracy, "fitness": fit,
          "selected_by": ("fitness in the last generation"
                          if h.generations else "validation accuracy"),
          "test_accuracy": test, "genome": best.genome.to_json(),
          "description": best.genome.describe(),
          "flops_per_train_step": best.trained["flops"]["train_step"],
          "learning_rate": best.genome.learning_rate}


def _time(config, history, trainer, wall_time_s: float) -> dict:
  """`time_split` of the search: in this process, over its trainer's
  slots, with this process's CPU time (since it started: a recycled run's
  last process); over the workers' slots otherwise (their CPU is in their
  own processes). Every compile's seconds are `compile_cache`'s."""
  trained = [i.trained for i in history.trained]
  if config.num_workers:
    return time_split(trained, wall_time_s,
                      slots=config.num_workers * event_slots(trained))
  return time_split(trained, wall_time_s, slots=trainer.slots,
                    process_cpu_s=time.process_time())


def finalize(config, workdir, history, trainer, wall_time_s: float) -> dict:
  """Writes `results.json` and `model/` from the replayed `history` and a
  `trainer` that predicts (its training images need not be on the
  devices); returns the results dict."""
  h, d = history, trainer.dataset
  _check_trained(h)
  top = _top(config, h, trainer)
  labels = trainer.data.splits["test"][2]
  probs = [trainer.predict(ind.genome, v, "test") for ind, _, v in top]
  (best, fit, variables) = top[0]
  best_test = float(np.mean(probs[0].argmax(-1) == labels))
  results = {
      "best": _best_entry(h, best, fit, test=best_test),
      "ensemble": {"ids": [ind.id for ind, _, _ in top],
                   "test_accuracy": float(np.mean(majority_vote(probs)
                                                  == labels)),
                   "vote": "majority"},
      "individuals": len(h.trained), "alive": len(h.alive),
      "total_flops": h.total_flops, "wall_time_s": wall_time_s,
      "strategy": config.strategy, "search_space": config.search_space,
      "generations": [dict(e["stats"], generation=e["generation"])
                      for e in h.generations],
      "weight_inheritance": config.weight_inheritance,
      "compile_cache": trainer.compile_stats(),
      "time": _time(config, h, trainer, wall_time_s),
      "data": {"name": d.name, "source": d.source,
               "train": int(len(d.train_labels)),
               "val": int(len(d.val_labels)), "test": int(len(labels))},
  }
  export_model(Path(workdir) / MODEL, best.genome, variables,
               class_names=d.class_names, mean=d.mean, std=d.std,
               info={"id": best.id, "val_accuracy": best.val_accuracy,
                "test_accuracy": best_test, "data": d.name,
                "image_shape": list(d.train_images.shape[1:])})
  # A run that selected on costs answers with its front, exported too.
  results["pareto_front"] = pareto_front(
      config, h, trainer, export_to=Path(workdir) / MODELS
      if tuple(config.objectives)[1:] else None)
  write_results(workdir, results)
  return results
