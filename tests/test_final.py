"""The final stage of a run (`final.fraction`) with a race of its best
candidates (`final.candidates`): the winner is the most accurate at the
race's end, trains on from where it stopped, and a restart reads the race
back instead of running it again."""

import json
import time
import types

import pytest

from evojax_nas import config as config_lib
from evojax_nas import run
from evojax_nas.config import ConfigError, default_config
from evojax_nas.model.exported import load_model
from evojax_nas.runs import final as final_lib
from evojax_nas.train.checkpoints import CheckpointError
from test_retrain import tiny


@pytest.mark.slow
def test_a_race_hands_the_final_stage_to_its_most_accurate_candidate(
    cifar10_dir, tmp_path):
  c = tiny(default_config(), tmp_path)
  c.data.dir = str(cifar10_dir)
  # 6 individuals of 30 steps, then at most 180 steps in about 190 s, of
  # which each candidate gets 3 % (its compile and timing overrun that: it
  # pauses after one dispatch).
  c.time_budget_s, c.max_steps, c.final.fraction = 200.0, 360, 0.5
  c.final.candidates, c.final.race_fraction = 3, 0.03
  c.retrain.eval_points = 2
  wd = tmp_path / "wd"
  results = run(c, wd)
  raced, retrained = results["final"]["race"], results["final"]["retrain"]
  entries = raced["candidates"]
  assert [e["id"] for e in entries][0] == results["best"]["id"]
  assert len(entries) == 3 and len({e["id"] for e in entries}) == 3
  searched = [e["search_val_accuracy"] for e in entries]
  assert searched == sorted(searched, reverse=True)
  winner = max(entries, key=lambda e: e["val_accuracy"])
  assert raced["winner"] == winner["id"] == retrained["individual"]
  assert all(0 < e["step"] <= e["steps"] for e in entries)
  # The winner trained on from the race's point, on the race's plan.
  final = json.loads((wd / "retrained" / "final" / "results.json")
                     .read_text())
  assert {"step": winner["step"], "val_accuracy": winner["val_accuracy"]
          } in [{k: p[k] for k in ("step", "val_accuracy")}
                for p in final["curve"]]
  assert final["steps"] == winner["steps"] == final["curve"][-1]["step"]
  assert load_model(wd / "retrained" / "final").info["id"] == winner["id"]
  assert json.loads((wd / "retrained" / "final" / "race.json")
                    .read_text()) == raced
  # A restart reads the race back (no trainer is needed to run it again).
  assert final_lib.race(config_lib.from_workdir(wd), wd, [], ends_at=0.0,
                        trainer=None) == raced


def test_the_race_takes_the_answer_then_the_kept_by_validation(tmp_path):
  (tmp_path / "events.jsonl").write_text("\n".join(json.dumps(e) for e in (
      {"event": "trained", "id": 1, "val_accuracy": 0.5},
      {"event": "trained", "id": 2, "val_accuracy": 0.7},
      {"event": "trained", "id": 3, "val_accuracy": 0.6},
      {"event": "trained", "id": 4, "val_accuracy": 0.9},
      {"event": "trained", "id": 5, "val_accuracy": 0.8, "failed": "nan"},
  )) + "\n")
  for ident in (1, 2, 3, 5):  # 4's checkpoint was dropped
    (tmp_path / "checkpoints" / str(ident)).mkdir(parents=True)
  c = default_config()
  c.time_budget_s, c.final.fraction, c.final.candidates = 800.0, 0.25, 3
  # The answer (a generational run's, by fitness) first, then by validation.
  assert final_lib.candidates(c, tmp_path, {"best": {"id": 3}}) == [3, 2, 1]
  c.final.candidates = 1
  assert final_lib.candidates(c, tmp_path, {"best": {"id": 3}}) == [3]


def test_a_candidate_whose_checkpoint_cannot_be_read_is_left_out(
    tmp_path, monkeypatch):
  (tmp_path / "events.jsonl").write_text("")

  def heat(config, workdir, ident, trainer, lane, budget, share):
    del config, workdir, trainer, lane, budget, share
    if ident == 2:
      raise CheckpointError(2, "checkpoint 2 is truncated")
    return {"id": ident, "val_accuracy": {1: 0.3, 3: 0.5}[ident],
            "step": 2}, None, None, None, 0.0

  monkeypatch.setattr(final_lib, "_heat", heat)
  trainer = types.SimpleNamespace(lane=lambda i: None)
  ends_at = time.perf_counter() + 10.0
  entries, best = final_lib._heats(default_config(), tmp_path, [1, 2, 3],
                                   trainer, ends_at=ends_at, share=1.0)
  assert [e["id"] for e in entries] == [1, 3] and best[0]["id"] == 3
  # Not the search's answer: without it there is nothing to race against.
  with pytest.raises(CheckpointError, match="checkpoint 2 is truncated"):
    final_lib._heats(default_config(), tmp_path, [2, 1], trainer,
                     ends_at=ends_at, share=1.0)


@pytest.mark.parametrize("key,value,message", [
    ("candidates", 0, "final.candidates must be an integer >= 1, got 0"),
    ("race_fraction", 1.0, "final.race_fraction must be in \\(0, 1\\)"),
])
def test_bad_final_values_end_in_one_line(key, value, message):
  c = default_config()
  c.time_budget_s, c.final.fraction = 800.0, 0.25
  c.final[key] = value
  with pytest.raises(ConfigError, match=message):
    config_lib.validate(c)


def test_a_race_needs_a_time_budget():
  c = default_config()
  c.max_steps, c.final.fraction, c.final.candidates = 10_000, 0.25, 2
  with pytest.raises(ConfigError, match="final.candidates > 1 race for a "
                     "share of the final stage's time: set time_budget_s"):
    config_lib.validate(c)
