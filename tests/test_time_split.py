"""Where the time went (issue 25): results.json, the summary line and the
report split a run's wall time into compiling, restoring, training,
validating, saving and the device's idle time."""

import pytest

from evojax_nas.evolution.events import time_split


def test_the_split_sums_the_trained_events():
  trained = [{"seconds": {"compile": 3.0, "train": 4.0, "eval": 1.0,
                          "save": 0.5, "restore": 0.25}},
             {"seconds": {"compile": 1.0, "train": 2.0, "eval": 1.0}}]
  s = time_split(trained, wall_s=10.0)
  assert (s["compile_s"], s["train_s"], s["eval_s"]) == (4.0, 6.0, 2.0)
  assert s["device_idle_s"] == pytest.approx(2.0)  # 10 - train - eval
  assert s["shares"]["compile"] == pytest.approx(0.4)
  assert time_split([], 0.0)["shares"]["train"] == 0.0


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
  assert 'id="time-compile"' in page and 'id="time-device_idle"' in page
