"""The benchmarks that replay a recorded run still run against today's
trainer (the throughput replay once went stale behind an API change)."""

import importlib.util
from pathlib import Path

import pytest

from evojax_nas.runs.dispatch import run

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"


def _load(name: str):
  spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module


def _rows(out: str, first: set[str]) -> list[list[str]]:
  return [line.split() for line in out.splitlines()
          if line.split()[:1] and line.split()[0] in first]


@pytest.mark.slow
def test_the_replay_benchmarks_run_on_a_recorded_run(tiny_config, tmp_path,
                                                     capsys):
  wd = tmp_path / "wd"
  # Recorded on the network engine: a split run would compile the batch
  # preparation the layers rows share, and JAX would hand that program back
  # from its caches to the first layers row, which then cannot store it.
  tiny_config.train.engine = "network"
  run(tiny_config, wd)
  capsys.readouterr()
  _load("replay_throughput").main([
      str(wd), "--individuals", "3", "--slots", "1", "--engines", "network",
      "--compile_options", "default,fast_compile", "--conv_kernels", "xla"])
  rows = _rows(capsys.readouterr().out, {"network"})
  assert [r[1:3] for r in rows] == [["default", "xla"], ["fast_compile", "xla"]]
  assert all(float(r[5]) > 0 and int(r[6]) > 0 for r in rows)  # per h, programs
  _load("replay_throughput").main([  # the old and new paths, one table
      str(wd), "--individuals", "2", "--slots", "1", "--paths=old,new",
      "--warm"])
  old, old_warm, new, new_warm = _rows(capsys.readouterr().out,
                                       {"network", "split"})
  assert old[:3] + old[-3:] == ["network", "default", "xla", "1", "old",
                                "1.00x"], " ".join(old)
  assert new[0] == "split" and new[-2] == "new", " ".join(new)
  assert 0 < float(new[-4].rstrip("%")) < 100  # compile's share of the CPU
  for warm in (old_warm, new_warm):  # every program compiled: none compiles,
    assert int(warm[6]) == 0 and "warm" in warm, " ".join(warm)
    assert "cold - warm:" in " ".join(warm)  # and compiling's CPU is told
  store = tmp_path / "store"  # one replay fills a program store ...
  _load("replay_throughput").main([
      str(wd), "--individuals", "3", "--slots", "1", "--engines", "layers",
      "--fill_program_store", str(store)])
  capsys.readouterr()
  _load("replay_throughput").main([  # ... that the next one loads from
      str(wd), "--individuals", "3", "--slots", "1", "--engines", "layers",
      "--program_stores", f",{store}"])
  cold, stored = _rows(capsys.readouterr().out, {"layers"})
  assert int(cold[8]) == 0 and int(stored[8]) == int(cold[6]) > 0, (
      " ".join(cold), " ".join(stored))
  assert int(stored[6]) == 0 and stored[-1] == str(store)  # none compiled
  _load("compile_options").main([
      str(wd), "--architectures", "2", "--steps", "4",
      "--options", "default=;level_2=xla_backend_optimization_level:2"])
  rows = _rows(capsys.readouterr().out, {"default", "level_2"})
  assert [r[0] for r in rows] == ["default", "level_2"]
  assert rows[0][2] == rows[0][4] == "1.00"  # the default is the baseline
  assert float(rows[1][1]) > 0 and float(rows[1][5]) < 1e-3  # rounding only


def test_the_convolution_kernel_benchmark_times_every_kernel_set(capsys):
  _load("conv_kernels").main(["--layers", "8x4x6", "--batch", "4"])
  rows = _rows(capsys.readouterr().out, {"8x4x6"})
  assert [r[1] for r in rows] == ["xla", "eigen"]
  assert all(float(v) > 0 for r in rows for v in r[2:5])
  assert float(rows[0][5]) == 0 and float(rows[1][5]) < 1e-5  # rounding only
