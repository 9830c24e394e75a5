"""The config an experiment directory recorded (WORKDIR/config.json), and
the rule for continuing it: budgets, display and paths may change, the
science may not. It starts no JAX backend: a sweep's driver checks its
experiments' folders before it forks their processes.
"""

from __future__ import annotations

import json
from pathlib import Path

from evojax_nas import config as config_lib
from evojax_nas import files
from evojax_nas import strategies
from evojax_nas.workdir import read_record

# Fields that may differ when a workdir is resumed (budgets, display, paths).
_RESUMABLE_CHANGES = ("max_individuals", "max_steps", "time_budget_s",
                      "max_generations", "progress", "tensorboard", "data.dir",
                      "data.cache_dir", "data.url", "data.same_as_recorded",
                      "persistent_compile_cache",
                      "compiled_networks_in_memory",
                      # Placement and speed, not the science: the schedule's
                      # S is recorded in the log and kept (evolution/loop.py).
                      "slots_per_device", "cpu_devices", "train.loop", "train.engine",
                      "train.compile_options", "train.conv_kernels",
                      "train.chunks_per_dispatch", "train.data_parallel",
                      "persistent_cache_min_compile_s",
                      "program_store", "program_store_mb",
                      "resources.cache_map_fraction",
                      "resources.recycle_map_fraction",
                      "resources.recycle_memory_fraction")


def _effective(flat: dict) -> dict:
  """A flat config with `sample_replacement="auto"` spelled out as the
  strategy's own ("with" for aging, "without" for the tournament)."""
  if flat.get("sample_replacement") == "auto":
    with_ = strategies.draws_with_replacement(flat.get("strategy", ""), "auto")
    flat = dict(flat, sample_replacement="with" if with_ else "without")
  return flat


def recorded(path: Path, settings: dict, *, record: bool, fix: str):
  """What `path` recorded (a dict), or None when there was nothing and
  `settings` were recorded there now (if `record`)."""
  old = read_record(path, fix)
  if old is None and record:
    files.write_atomic(path, json.dumps(settings, indent=1, sort_keys=True))
  return old


def check_same_experiment(config, path: Path, record: bool = True):
  """Refuses to continue a workdir with a config that changes the science;
  records the config at `path` if there is none yet and `record`."""
  # Through JSON, so that tuples compare equal to the lists read back.
  new = json.loads(json.dumps(config_lib.flatten(config)))
  old = recorded(path, new, record=record,
                 fix="restore it or start a new --workdir")
  if old is None:
    return
  defaults = json.loads(json.dumps(config_lib.flatten(
      config_lib.default_config())))
  old = {**defaults, **config_lib.upgrade_recorded(old)}
  old, new = _effective(old), _effective(new)
  diff = sorted(k for k in set(old) | set(new)
                if k not in _RESUMABLE_CHANGES and old.get(k) != new.get(k))
  if diff:
    k = diff[0]
    raise config_lib.ConfigError(
        f"workdir {path.parent} holds an experiment with {k}={old.get(k)!r}, "
        f"not {new.get(k)!r}: rerun with its config or use a new --workdir")
