"""Where the time went (issue 25): results.json, the summary line and the
report split its slots' time into compiling, restoring, training, waiting,
validating, saving and idle, and keep the process's CPU time."""

import pytest

from evojax_nas.evolution.events import time_split


def test_the_split_sums_the_trained_events_over_the_slots_time():
  trained = [{"slot": 0, "seconds": {"compile": 3.0, "train": 4.0,
                                     "eval": 1.0, "save": 0.5,
                                     "restore": 0.25}},
             {"slot": 1, "seconds": {"compile": 1.0, "train": 2.0,
                                     "eval": 1.0, "wait": 0.25}}]
  s = time_split(trained, wall_s=10.0)
  assert (s["compile_s"], s["train_s"], s["eval_s"]) == (4.0, 6.0, 2.0)
  assert s["slots"] == 2  # named by the events
  assert s["idle_s"] == pytest.approx(20.0 - 13.0)
  assert s["shares"]["compile"] == pytest.approx(4.0 / 20.0)
  assert sum(s["shares"].values()) == pytest.approx(1.0)
  four = time_split(trained, wall_s=10.0, slots=4, process_cpu_s=55.5)
  assert four["shares"]["train"] == pytest.approx(6.0 / 40.0)
  assert four["process_cpu_s"] == 55.5 and "process_cpu_s" not in s
  assert time_split([], 0.0)["shares"]["train"] == 0.0


def test_the_last_line_says_the_shares_of_the_slots_time():
  from evojax_nas.commands import _split  # pylint: disable=g-import-not-at-top
  trained = [{"slot": s, "seconds": {"compile": 2.0, "train": 6.0,
                                     "eval": 1.0}} for s in (0, 1)]
  line = _split({"time": time_split(trained, wall_s=10.0)})
  assert line == (" on 2 slots (compiling 20%, training 60%, validating "
                  "10%, idle 10% of their time)")
  old = {"shares": {"compile": 0.3, "train": 1.2, "device_idle": 0.0}}
  assert "device idle 0%" in _split({"time": old})  # a run recorded before


@pytest.mark.slow
def test_results_and_the_report_say_where_the_time_went(tiny_config,
                                                        tmp_path):
  from evojax_nas.commands import summary_line  # pylint: disable=g-import-not-at-top
  from evojax_nas.runs.dispatch import run  # pylint: disable=g-import-not-at-top
  from evojax_nas.reports import report  # pylint: disable=g-import-not-at-top
  results = run(tiny_config, tmp_path / "wd")
  t = results["time"]
  assert t["train_s"] > 0 and t["compile_s"] > 0
  assert t["wall_s"] == pytest.approx(results["wall_time_s"], abs=1e-3)
  assert "compiling" in summary_line(results, "wd")
  page = report.build([tmp_path / "wd"]).read_text()
  assert f"share of the {t['slots']} slots&#x27; time" in page
  assert t["process_cpu_s"] > 0
  assert results["compile_cache"]["compile_seconds"] > 0  # every compile
  assert sum(t["shares"].values()) == pytest.approx(1.0, abs=1e-3)
  assert "of their time" in summary_line(results, "wd")
  for row in ("time-compile", "time-idle", "time-process_cpu"):
    assert f'id="{row}"' in page
