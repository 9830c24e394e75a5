"""Escaping local optima and recombination (Real et al. 2017, section 5)."""

import json

import jax
import numpy as np
import pytest

from evojax_nas import config as config_lib
from evojax_nas import run
from evojax_nas.genomes import escape, recombination
from evojax_nas.genomes.dna import conv_chain
from evojax_nas.train.inheritance import blend


def test_schedule_parsing_and_lookup():
  periods = escape.parse_schedule("10-20:5, 30-40:3")
  assert periods == [(10, 20, 5), (30, 40, 3)]
  assert [escape.mutations_for(i, periods, 1)
          for i in (9, 10, 19, 20, 35)] == [1, 5, 5, 1, 3]
  with pytest.raises(ValueError, match="START-END:COUNT"):
    escape.parse_schedule("10:5")
  c = config_lib.default_config()
  c.escape.mutation_rate_schedule = "20-10:2"
  with pytest.raises(config_lib.ConfigError, match="mutation_rate_schedule"):
    config_lib.validate(c)


def test_side_by_side_adds_channels_when_backbones_align():
  a, b = conv_chain([4, 8], [1, 2]), conv_chain([6, 2], [1, 2])
  fused = recombination.side_by_side(a, b)
  assert [e.out_channels for e in fused.edges] == [10, 10]
  assert [v.id for v in fused.vertices] == [v.id for v in a.vertices]
  assert recombination.side_by_side(a, conv_chain([4, 8], [1, 1])) is None
  assert recombination.side_by_side(a, conv_chain([4], [1])) is None


def test_weight_blend_averages_matching_layers_only():
  mine = {"params": {"conv_2": {"kernel": np.ones((3, 3, 3, 4))},
                     "head": {"kernel": np.zeros((4, 10))}}}
  other = {"params": {"conv_2": {"kernel": 3 * np.ones((3, 3, 3, 4))},
                      "head": {"kernel": np.ones((5, 10))}}}
  out, blended = blend(mine, other)
  assert blended == ["conv_2"]
  np.testing.assert_array_equal(out["params"]["conv_2"]["kernel"], 2.0)
  np.testing.assert_array_equal(out["params"]["head"]["kernel"], 0.0)


def test_perturbed_mutation_weights_stay_within_half_and_twice():
  w = {"identity": 1.0, "insert_convolution": 2.0}
  p = recombination.perturb_weights(jax.random.key(0), w)
  assert all(0.5 * w[k] <= p[k] <= 2.0 * w[k] for k in w)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["mutation_probabilities", "weights",
                                  "side_by_side"])
def test_recombination_runs_log_their_second_parent(tiny_config, tmp_path,
                                                    mode):
  c = tiny_config
  c.population_size = 5
  c.max_individuals = 12
  c.recombination.mode = mode
  c.recombination.probability = 1.0
  c.mutations = {"alter_number_of_channels": 1.0, "insert_convolution": 1.0,
                 "identity": 1.0}
  run(c, tmp_path / mode)
  events = [json.loads(l) for l in (tmp_path / mode / "events.jsonl").open()]
  born = [e for e in events if e["event"] == "born" and e["parent"] is not None]
  assert any("partner" in e for e in born)
  if mode == "mutation_probabilities":
    assert all("mutation_weights" in e for e in events if e["event"] == "born")
    weights = [e["mutation_weights"] for e in born]
    assert len({json.dumps(w, sort_keys=True) for w in weights}) > 1
  if mode == "weights":
    trained = [e for e in events if e["event"] == "trained"]
    assert any(e["blended"] for e in trained)


@pytest.mark.slow
def test_population_reset_retrains_everyone_from_fresh_weights(tiny_config,
                                                               tmp_path):
  c = tiny_config
  c.max_individuals = 8
  c.escape.reset_population_at = (4,)
  c.escape.mutation_rate_schedule = "4-6:3"
  run(c, tmp_path / "reset")
  events = [json.loads(l) for l in (tmp_path / "reset" / "events.jsonl").open()]
  resets = [i for i, e in enumerate(events) if e["event"] == "population_reset"]
  assert len(resets) == 1
  reborn = [e for e in events if e["event"] == "born"
            and e["mutation"] == "population_reset"]
  killed = [e for e in events if e["event"] == "killed"
            and e["reason"] == "population_reset"]
  # Every alive individual (all but a child already in training) restarts.
  assert len(reborn) == len(killed) >= c.population_size - 1
  for e in reborn:
    trained = next(t for t in events if t["event"] == "trained"
                   and t["id"] == e["id"])
    assert trained["inherited"] == [] and trained["partial"] == []
  raised = [e for e in events if e["event"] == "born" and 4 <= e["id"] < 6
            and e["mutation"] != "population_reset"]
  assert all(e["mutation"].count("+") == 2 for e in raised)
