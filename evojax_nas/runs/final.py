"""`final(config, workdir, results)`: the end of a run with `final.fraction`,
its answer trained with that share of the budget into
`WORKDIR/retrained/final/` (retrain.py, `retrain.*` settings).

The search ranks individuals by their accuracy after a few hundred steps of
their lineage; the answer is judged after its final training, where what a
step costs at the final scale decides how many epochs fit. With
`final.candidates = k` (beyond the papers) the best k by validation race
for it first: one round of successive halving (Jamieson and Talwalkar,
2016), each trained at the final scale for an equal share of
`final.race_fraction` of the final time, on the schedule it would follow as
the winner. The most accurate on validation then goes on from where it
stopped (its train state saved as a paused retraining's, so a restart
resumes it) and the others are dropped.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import ml_collections

from evojax_nas import config as config_lib
from evojax_nas import files
from evojax_nas.evolution.events import parse, raw_lines
from evojax_nas.genomes.scaling import scale
from evojax_nas.model.exported import ModelError, load_model
from evojax_nas.runs import ownership
from evojax_nas.runs.retrain import (Retraining, StateStore, build_trainer,
                                     close_trainer, kept_by_validation,
                                     retrain)
from evojax_nas.train.checkpoints import CheckpointError
from evojax_nas.workdir import (EVENTS, FINAL, MODEL, RACE, RETRAINED,
                                 read_record, write_results)

log = logging.getLogger("evojax_nas")


def _seconds_per_step(workdir: Path, ident: int) -> float | None:
  """The best's training seconds per step in the search (its `trained`
  event), to turn a time share into steps."""
  path = workdir / EVENTS
  if not path.is_file():
    return None
  for line in raw_lines(path):
    try:
      e = parse(line)
    except ValueError:
      continue
    if e.get("event") == "trained" and e.get("id") == ident and e.get(
        "steps"):
      return e["seconds"]["train"] / e["steps"]
  return None


def final_steps(config, workdir: Path, best: int) -> int:
  """The steps that `final.fraction` of the budget buys: that share of
  `max_steps`, or twice what that share of `time_budget_s` buys at the
  best's speed in the search, whichever is fewer. With a time budget this
  is a bound: the retraining keeps the steps that fit at its own speed
  (alone it runs faster than the search's slots, wider it runs slower;
  `final_seconds`)."""
  f, candidates = config.final.fraction, []
  if config.max_steps:
    candidates.append(int(f * config.max_steps))
  per_step = _seconds_per_step(workdir, best)
  if config.time_budget_s and per_step:
    candidates.append(int(2 * f * config.time_budget_s / per_step))
  chunk = config.train.chunk_steps
  return max(chunk, min(candidates or [config.retrain.steps]) // chunk * chunk)


def final_seconds(config, results: dict) -> float:
  """What is left of `time_budget_s` after the search (0 = no limit): the
  search stops at its share, give or take the children in flight."""
  if not config.time_budget_s:
    return 0.0
  left = config.time_budget_s - results["wall_time_s"]
  return max(left, 0.5 * config.final.fraction * config.time_budget_s)


def final_config(config, workdir: Path, ident: int, seconds: float):
  """The retraining of individual `ident` as the final stage: into
  `retrained/final/`, its steps bounded by `final_steps`, timed for
  `seconds`."""
  c = ml_collections.ConfigDict(config.to_dict())
  c.retrain.name = FINAL
  c.retrain.steps = final_steps(config, workdir, ident)
  c.retrain.time_budget_s = seconds
  return c


def candidates(config, workdir: Path, results: dict) -> list[int]:
  """The search's answer, then the next kept individuals by validation
  accuracy, `final.candidates` in all (the answer alone without a time
  budget to share)."""
  best = results["best"]["id"]
  if config.final.candidates == 1 or not config.time_budget_s:
    return [best]
  others = [i for i, _ in kept_by_validation(workdir) if i != best]
  return [best, *others][:config.final.candidates]


def final(config, workdir: str | Path, results: dict) -> dict:
  """Trains the answer (or the race's winner) with what is left of the
  budget; `results.json` gains the split, the race and the accuracies."""
  workdir = Path(workdir).absolute()
  seconds = final_seconds(config, results)
  ends_at = time.perf_counter() + seconds
  ids = candidates(config, workdir, results)
  out = workdir / RETRAINED / FINAL
  out.mkdir(parents=True, exist_ok=True)
  trainer = (build_trainer(final_config(config, workdir, ids[0], seconds),
                           out) if len(ids) > 1 else None)
  try:
    raced = race(config, workdir, ids, ends_at, trainer) if trainer else None
    winner = raced["winner"] if raced else ids[0]
    c = final_config(config, workdir, winner, seconds)
    log.info("final: %.0f%% of the budget retrains individual %d for at "
             "most %d steps", 100 * config.final.fraction, winner,
             c.retrain.steps)
    retrained = retrain(workdir, winner, c, trainer=trainer)
  finally:
    if trainer is not None:
      close_trainer(trainer, out)
  max_steps, time_budget_s = config_lib.search_budgets(config)
  results = dict(results, final={
      "fraction": config.final.fraction,
      "search": {"max_steps": max_steps, "time_budget_s": time_budget_s,
                 "wall_time_s": results["wall_time_s"]},
      "retrain": {k: retrained[k] for k in (
          "name", "individual", "steps", "epochs", "scale", "seconds",
          "val_accuracy", "test_accuracy", "found_val_accuracy",
          "found_test_accuracy")},
      "race": raced,
      "model": str(out / MODEL)})
  write_results(workdir, results)
  return results


def race(config, workdir: Path, ids: list[int], ends_at: float,
         trainer) -> dict:
  """The candidates `ids` raced for the final stage, which ends at
  `ends_at` (`time.perf_counter()`; see the module's docstring); each
  plans its steps as the winner, which trains from the race's end to
  `ends_at`. The winner's train state is left in
  `retrained/final/state/` for `retrain` to resume, the race in
  `retrained/final/race.json` (read back, not run again, on a restart)."""
  out = workdir / RETRAINED / FINAL
  recorded = read_record(out / RACE, fix=f"remove {out} to run the final "
                         "stage again")
  if recorded is not None:
    return recorded
  share = (config.final.race_fraction * (ends_at - time.perf_counter())
           / len(ids))
  log.info("final: %d candidates race for %.0f s each: %s", len(ids), share,
           ", ".join(map(str, ids)))
  with ownership.held(out, "the final race"):
    store = StateStore(out / "state")
    try:
      store.clear()  # a race cut short
      entries, (entry, run, state, curve, spent) = _heats(
          config, workdir, ids, trainer=trainer, ends_at=ends_at, share=share)
      store.save(entry["step"], state, run.meta(entry["step"], curve, spent))
    finally:
      store.close()
    raced = {"seconds_each": round(share, 1), "candidates": entries,
             "winner": entry["id"]}
    files.write_atomic(out / RACE, json.dumps(raced, indent=1))
  return raced


def _heats(config, workdir: Path, ids: list[int], trainer, ends_at: float,
           share: float):
  """Every candidate's heat (`_heat`), one after another: (their race
  entries, the winning heat). A candidate whose checkpoint cannot be read
  is left out, the search's answer (the first) excepted."""
  searched = dict(kept_by_validation(workdir))
  lane, entries, best = trainer.lane(0), [], None
  for i, ident in enumerate(ids):
    later = (len(ids) - 1 - i) * share  # the heats after this one
    try:
      heat = _heat(config, workdir, ident, trainer=trainer, lane=lane,
                   budget=ends_at - time.perf_counter() - later, share=share)
    except (ModelError, CheckpointError) as err:
      if i == 0:
        raise
      log.warning("final race: individual %d left out: %s", ident, err)
      continue
    heat[0]["search_val_accuracy"] = searched.get(ident)
    entries.append(heat[0])
    if best is None or heat[0]["val_accuracy"] > best[0]["val_accuracy"]:
      best = heat
  return entries, best


def _heat(config, workdir: Path, ident: int, trainer, lane, budget: float,
          share: float):
  """Candidate `ident` trained at the final scale for `share` seconds (its
  loading and compiling included) on the plan of `budget` seconds:
  (its race entry, its Retraining, train state, curve, training seconds)."""
  started = time.perf_counter()
  c = final_config(config, workdir, ident, budget)
  r, found = c.retrain, load_model(workdir, ident)
  genome = scale(found.genome, r.width, r.depth, min_channels=r.min_channels)
  run = Retraining(c, workdir / RETRAINED / FINAL, found, ident=ident,
                   genome=genome, trainer=trainer)
  net, state, _ = run.prepare(lane)
  state, curve, spent = run.train(net, lane, state, store=None, curve=[],
                                  seconds=0.0, start=0, tb=None,
                                  until=started + share)
  entry = {"id": ident, "val_accuracy": curve[-1]["val_accuracy"],
           "step": curve[-1]["step"], "steps": run.steps,
           "seconds": round(time.perf_counter() - started, 1),
           "width": run.scale[0], "min_channels": run.scale[1]}
  log.info("final race: individual %d at width %g, min_channels %d: val "
           "%.4f after %d of %d steps (%.0f s)", ident, run.scale[0],
           run.scale[1], entry["val_accuracy"], entry["step"], run.steps,
           entry["seconds"])
  return entry, run, state, curve, spent
