"""Config files, validation, and the ensemble vote."""

import json
import pathlib

import numpy as np
import pytest

from evojax_nas import config as config_lib
from evojax_nas.model.vote import majority_vote

CONFIGS = sorted((pathlib.Path(__file__).parents[1] / "configs").glob("*.py"))


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_every_config_file_is_valid(path):
  config = config_lib.sibling_config(str(path), path.stem)
  config_lib.validate(config)


def test_paper_values_and_variants():
  root = str(CONFIGS[0])
  c10 = config_lib.sibling_config(root, "large_scale_cifar10")
  c100 = config_lib.sibling_config(root, "large_scale_cifar100")
  assert (c10.population_size, c10.steps_per_individual) == (1000, 25600)
  assert (c10.train.batch_size, c10.train.momentum, c10.train.weight_decay) == (
      50, 0.9, 1e-4)
  assert c10.initial_learning_rate == 0.1 and c10.data.val_size == 5000
  diff = {k for k, v in config_lib.flatten(c10).items()
          if config_lib.flatten(c100)[k] != v}
  assert diff == {"data.name"}
  demo = config_lib.sibling_config(root, "cifar10_demo")
  rand = config_lib.sibling_config(root, "cifar10_demo_random")
  assert rand.strategy == "random" and demo.strategy == "tournament"


@pytest.mark.parametrize("field, value, message", [
    ("strategy", "annealing", "valid choices"),
    ("population_size", 1, "at least 2"),
    ("evaluate_test", "sometimes", "evaluate_test"),
    ("time_budget_s", -1.0, ">= 0"),
    ("sample_replacement", "sometimes", "valid choices"),
    ("sample_replacement", "with", "applies to .*'aging'"),  # tournament
    ("train.lr_schedule", ((0.75, 0.1), (0.5, 0.01)), "increasing"),
    ("train.lr_schedule", ((0.5, 0.0),), "positive factors"),
    ("train.lr_schedule", ((1.5, 0.1),), r"in \(0, 1\]"),
])
def test_bad_values_are_named(field, value, message):
  c = config_lib.default_config()
  c.update_from_flattened_dict({field: value})
  with pytest.raises(config_lib.ConfigError, match=message):
    config_lib.validate(c)


def test_unknown_nested_and_mutation_fields():
  c = config_lib.default_config()
  c.data.unlock()
  c.data.folder = "x"
  with pytest.raises(config_lib.ConfigError, match="'data.folder'"):
    config_lib.validate(c)
  c = config_lib.default_config()
  c.mutations.unlock()
  c.mutations.grow_wings = 1.0
  with pytest.raises(config_lib.ConfigError, match="mutations"):
    config_lib.validate(c)


def test_majority_vote_breaks_ties_by_confidence():
  a = np.array([[0.6, 0.4, 0.0], [0.1, 0.2, 0.7], [0.5, 0.5, 0.0]])
  b = np.array([[0.1, 0.9, 0.0], [0.0, 0.1, 0.9], [0.9, 0.1, 0.0]])
  c = np.array([[0.2, 0.8, 0.0], [0.8, 0.1, 0.1], [0.0, 0.2, 0.8]])
  np.testing.assert_array_equal(majority_vote([a, b, c]), [1, 2, 0])
  np.testing.assert_array_equal(majority_vote([a, b]), [1, 2, 0])


@pytest.mark.parametrize("strategy, resumable_with_auto", [
    ("aging", False), ("tournament", True)])
def test_a_workdir_from_before_sample_replacement_keeps_its_samples(
    tmp_path, strategy, resumable_with_auto):
  """A config.json recorded before `sample_replacement` existed drew its
  samples without replacement: resuming it goes on so, and a config that
  would change that (aging's new default) is refused."""
  from evojax_nas.runs.recorded_config import check_same_experiment
  c = config_lib.default_config()
  c.strategy = strategy
  c.sample_size = 2
  flat = json.loads(json.dumps(config_lib.flatten(config_lib.validate(c))))
  del flat["sample_replacement"], flat["train.lr_schedule"]
  (tmp_path / "config.json").write_text(json.dumps(flat))
  resumed = config_lib.from_workdir(tmp_path)
  assert resumed.sample_replacement == "without"
  assert resumed.train.lr_schedule == ()
  check_same_experiment(resumed, tmp_path / "config.json")
  if resumable_with_auto:
    check_same_experiment(config_lib.validate(c), tmp_path / "config.json")
  else:
    with pytest.raises(config_lib.ConfigError,
                       match="sample_replacement='without', not 'with'"):
      check_same_experiment(config_lib.validate(c), tmp_path / "config.json")


@pytest.mark.parametrize("compile_ahead, slots_per_device", [
    (True, 0), (False, 1)])
def test_a_workdir_from_before_slots_resumes_with_its_schedule(
    tmp_path, compile_ahead, slots_per_device):
  """A config.json recorded with `compile_ahead` (before slots) resumes:
  False was one slot, True the default (two on CPU); the recorded key is
  no difference from today's config."""
  from evojax_nas.runs.recorded_config import check_same_experiment
  c = config_lib.validate(config_lib.default_config())
  flat = json.loads(json.dumps(config_lib.flatten(c)))
  del flat["slots_per_device"]
  flat["compile_ahead"] = compile_ahead
  (tmp_path / "config.json").write_text(json.dumps(flat))
  resumed = config_lib.from_workdir(tmp_path)
  assert resumed.slots_per_device == slots_per_device
  assert "compile_ahead" not in config_lib.flatten(resumed)
  check_same_experiment(resumed, tmp_path / "config.json")
  check_same_experiment(c, tmp_path / "config.json")
