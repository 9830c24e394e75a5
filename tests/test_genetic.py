"""Genetic CNN: the encoding's decoding rules, the genetic operators, and a
generational run end to end."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import train_one_chunk

from evojax_nas import config as config_lib
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.runs import runner
from evojax_nas.runs.dispatch import run
from evojax_nas.genomes import strings
from evojax_nas.genomes.dna import GenomeError
from evojax_nas.genomes.genetic_cnn import GeneticCNN, Stage
from evojax_nas.strategies import Genetic, roulette_probabilities
from evojax_nas.train.trainer import learning_rates

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


# --- encoding ------------------------------------------------------------------
def test_bit_order_and_notation_follow_the_paper():
  # Figure 1, stage 2 (K=5): bits (1,2) (1,3)(2,3) (1,4)(2,4)(3,4) (1,5)..(4,5)
  g = GeneticCNN.from_code("1-00-111-0001", widths=(8,))
  assert g.nodes == (5,)
  assert g.bits == (1, 0, 0, 1, 1, 1, 0, 0, 0, 1)
  assert g.code() == "1-00-111-0001"
  (stage,) = g.decode()
  # 1->2, {1,2,3}->4, 4->5; node 3 has no predecessor (fed by the input
  # node) and sends to 4; 5 has no successor (feeds the output node).
  assert dict(stage.nodes) == {1: (0,), 2: (1,), 3: (0,), 4: (1, 2, 3),
                               5: (4,)}
  assert stage.outputs == (5,)


def test_isolated_nodes_are_dropped():
  # K=4: 1->2 only ... node 3 and 4 touch no ordinary node.
  (stage,) = GeneticCNN.from_code("1-00-000", widths=(8,)).decode()
  assert [n for n, _ in stage.nodes] == [1, 2]
  assert stage.outputs == (2,)


def test_all_zero_stage_is_one_convolution():
  g = GeneticCNN.from_code("0-00 0-00-000", widths=(8, 8))
  assert g.decode() == (Stage((), ()), Stage((), ()))
  x = jnp.zeros((1, 32, 32, 3))
  from evojax_nas.compile.modules import build_module
  params = build_module(g, 10).init(jax.random.key(0), x)["params"]
  convs = sorted(k for k in params if k.startswith("conv_"))
  assert convs == ["conv_s1_n0", "conv_s2_n0"]  # one conv per stage


def test_figure_2_examples_decode_to_vgg_resnet_densenet():
  vgg = GeneticCNN.from_code("1-01-001", widths=(8,)).decode()[0]
  assert vgg.nodes == ((1, (0,)), (2, (1,)), (3, (2,)), (4, (3,)))  # a chain
  res = GeneticCNN.from_code("1-01-101", widths=(8,)).decode()[0]
  assert dict(res.nodes)[4] == (1, 3)  # node 1 skips over 2 and 3 to 4
  dense = GeneticCNN.from_code("1-11-111", widths=(8,)).decode()[0]
  assert dict(dense.nodes) == {1: (0,), 2: (1,), 3: (1, 2), 4: (1, 2, 3)}
  assert dense.outputs == (4,)


def test_strings_differing_in_isolated_nodes_share_a_signature():
  a = GeneticCNN.from_code("1-00-000", widths=(8,))
  b = GeneticCNN.from_code("1-00-000", widths=(8,), learning_rate=0.3)
  assert a.signature() == b.signature()  # learning rate not in it
  assert GeneticCNN.from_json(json.loads(json.dumps(a.to_json()))) == a
  with pytest.raises(GenomeError, match="Genetic CNN string"):
    GeneticCNN.from_code("1-0 00")
  with pytest.raises(GenomeError, match="bits"):
    GeneticCNN(bits=(1, 0), nodes=(3,), widths=(8,))


def test_paper_base_network_trains_a_step():
  g = GeneticCNN.from_code("1-01 0-01-111 0-11-010-0111")
  cache = StepCache(StepConfig(num_classes=10, batch_size=4, chunk_steps=1,
                               eval_batch_size=4))
  net = cache.get(g)
  state = net.new_state(net.init(jax.random.key(0)), seed=1)
  images = jax.random.randint(jax.random.key(2), (8, 32, 32, 3), 0, 255
                              ).astype(jnp.uint8)
  state, m = train_one_chunk(net, state, images, jnp.zeros(8, jnp.int32),
                             0.05)
  assert np.isfinite(float(m["loss"]))


# --- the paper's training -------------------------------------------------
def test_the_papers_stepped_learning_rate():
  """1e-2 for 120 epochs, 1e-3 for 60, 1e-4 for 40, 1e-5 for 20 (4.1), on
  240 epochs of the 40,000 images left after 10,000 for validation."""
  c = config_lib.load_file(CONFIGS / "genetic_cnn_cifar10.py")
  assert c.data.val_size == 10_000
  epoch = (50_000 - c.data.val_size) // c.train.batch_size
  assert c.steps_per_individual == 240 * epoch
  rates = learning_rates(c.initial_learning_rate, c.steps_per_individual,
                         c.train.lr_schedule)
  for at, want in ((0, 1e-2), (120 * epoch - 1, 1e-2), (120 * epoch, 1e-3),
                   (180 * epoch - 1, 1e-3), (180 * epoch, 1e-4),
                   (220 * epoch - 1, 1e-4), (220 * epoch, 1e-5),
                   (240 * epoch - 1, 1e-5)):
    assert rates[at] == pytest.approx(want, rel=1e-6), at
  # The demo's 400 steps follow the same rule, scaled.
  demo = config_lib.load_file(CONFIGS / "genetic_cnn_demo.py")
  rates = learning_rates(0.01, demo.steps_per_individual,
                         demo.train.lr_schedule)
  assert np.flatnonzero(np.diff(rates)).tolist() == [199, 299, 366]
  # A constant rate without a schedule; a string built directly has the
  # paper's rate.
  assert set(learning_rates(0.1, 10).tolist()) == {np.float32(0.1)}
  assert GeneticCNN.from_code("1-01").learning_rate == 0.01


def test_each_step_of_a_chunk_gets_its_own_rate():
  """A chunk of two steps at rates (a, 0) ends with the weights of one
  step at a: the second step's rate (0) is applied, not the first's."""
  g = GeneticCNN.from_code("1-01", widths=(4,), fc_width=8)
  images = jax.random.randint(jax.random.key(2), (8, 32, 32, 3), 0, 255
                              ).astype(jnp.uint8)
  labels = jnp.arange(8, dtype=jnp.int32) % 10
  params = []
  for chunk, lr in ((1, [0.05]), (2, [0.05, 0.0])):
    net = StepCache(StepConfig(num_classes=10, batch_size=4, chunk_steps=chunk,
                               eval_batch_size=4, crop_padding=0,
                               flip=False)).get(g)
    state = net.new_state(net.init(jax.random.key(0)), seed=1)
    idx = jnp.arange(4 * chunk, dtype=jnp.int32).reshape(chunk, 4)
    state, _ = train_one_chunk(net, state, images, labels, lr, idx)
    params.append(jax.device_get(state.params))
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-6,
                                                       atol=1e-7), *params)


# --- operators -----------------------------------------------------------------
def test_roulette_never_draws_the_worst_and_is_proportional():
  f = jnp.array([0.5, 0.7, 0.6, 0.9])
  p = np.asarray(roulette_probabilities(f))
  np.testing.assert_allclose(p, [0.0, 0.2 / 0.7, 0.1 / 0.7, 0.4 / 0.7],
                             rtol=1e-6)
  np.testing.assert_allclose(roulette_probabilities(jnp.ones(4)), 0.25)
  ga = Genetic(4, p_mutation=0.0, p_crossover=0.0)
  state, _ = ga.tell(jax.random.key(0), ga.init(), jnp.arange(4), f)
  draws = np.concatenate([np.asarray(ga.ask(jax.random.key(i), state).parents)
                          for i in range(500)])
  assert 0 not in draws
  freq = np.bincount(draws, minlength=4)[1:] / len(draws)
  np.testing.assert_allclose(freq, p[1:], atol=0.03)


def test_crossover_swaps_whole_stages_only():
  unit = GeneticCNN.from_code("1-01 0-01-111 0-11-010-0111").unit()
  a = np.zeros(len(unit), np.int32)
  b = np.ones(len(unit), np.int32)
  swapped_stages = set()
  for i in range(200):
    ca, cb = strings.crossover(jax.random.key(i), a, b, 0.5, unit, 3)
    ca, cb = np.asarray(ca), np.asarray(cb)
    np.testing.assert_array_equal(ca + cb, 1)  # genes exchanged, not made
    for s in range(3):
      stage = ca[unit == s]
      assert stage.min() == stage.max()  # a stage moves as a whole
      if stage[0]:
        swapped_stages.add(s)
  assert swapped_stages == {0, 1, 2}


def test_mutation_flips_bits_at_rate_q():
  genes = np.zeros((2000, 19), np.int32)
  flipped = jax.vmap(lambda k, g: strings.mutate(k, g, 0.05, 2))(
      jax.random.split(jax.random.key(0), 2000), genes)
  assert float(jnp.mean(flipped)) == pytest.approx(0.05, abs=0.005)
  ops = jax.vmap(lambda k, g: strings.mutate(k, g, 1.0, 5))(
      jax.random.split(jax.random.key(1), 200), genes[:200])
  assert int(jnp.min(ops)) >= 1  # always a different symbol


def test_plan_rates_match_p_crossover_and_p_mutation():
  ga = Genetic(20, p_mutation=0.8, p_crossover=0.2)
  state, _ = ga.tell(jax.random.key(0), ga.init(), jnp.arange(20),
                     jnp.linspace(0, 1, 20))
  plans = [ga.ask(jax.random.key(i), state) for i in range(300)]
  cross = np.mean([np.asarray(p.crossover) for p in plans])
  mut = np.mean([np.asarray(p.mutate)[~np.asarray(p.crossover)]
                 .mean() for p in plans])
  assert cross == pytest.approx(0.2, abs=0.03)
  assert mut == pytest.approx(0.8, abs=0.03)
  p0 = ga.ask(jax.random.key(7), state)
  p1 = ga.ask(jax.random.key(7), state)
  assert jax.tree.all(jax.tree.map(lambda a, b: bool((a == b).all()), p0, p1))


# --- a generational run ------------------------------------------------------------
@pytest.mark.slow
def test_genetic_run_end_to_end_and_resume(tiny_genetic_config, tmp_path):
  c = tiny_genetic_config
  c.genetic.p_crossover = 0.5
  c.evaluate_test = "all"
  c.train.lr_schedule = ((0.5, 0.1),)
  workdir = tmp_path / "ga"
  exp = runner.Experiment(c, workdir)
  exp.run(loop=_first_generation_only(exp))  # then a "crash"
  events = [json.loads(l) for l in (workdir / "events.jsonl").open()]
  assert sum(e["event"] == "generation" for e in events) == 1
  result = run(c, workdir)  # resumes with generations 1 and 2
  events = [json.loads(l) for l in (workdir / "events.jsonl").open()]
  gens = [e for e in events if e["event"] == "generation"]
  assert [g["generation"] for g in gens] == [0, 1, 2]
  born = [e for e in events if e["event"] == "born"]
  assert len(born) == 12 and len({e["id"] for e in born}) == 12
  assert {e["mutation"] for e in born[4:]} <= {"crossover", "mutate", "copy"}
  assert all(e["parent"] in gens[0]["ids"] for e in born[4:8])
  # The previous generation dies when the next one is complete.
  killed = {e["id"] for e in events if e["event"] == "killed"}
  assert killed == set(gens[0]["ids"]) | set(gens[1]["ids"])
  assert len(result["generations"]) == 3
  assert {"max", "min", "mean", "median", "std", "best_genome"} <= set(
      result["generations"][0])
  # Re-evaluation: fitness is the mean over evaluations of the same string.
  trained = {e["id"]: e for e in events if e["event"] == "trained"}
  genome = {e["id"]: json.dumps(e["genome"], sort_keys=True) for e in born}
  for g in gens:
    for ident, fit in zip(g["ids"], g["fitness"]):
      same = [trained[i]["val_accuracy"] for i in trained
              if genome[i] == genome[ident] and i <= max(g["ids"])]
      assert fit == pytest.approx(np.mean(same))
  # The result is the last generation's member of highest fitness (ties:
  # the older), not the best single evaluation of any generation.
  last = max(zip(gens[-1]["fitness"], [-i for i in gens[-1]["ids"]]))
  assert result["best"]["id"] == -last[1]
  assert result["best"]["fitness"] == pytest.approx(last[0])
  assert result["best"]["selected_by"] == "fitness in the last generation"
  assert result["ensemble"]["ids"][1] in gens[-1]["ids"]


def _first_generation_only(exp):
  loop = exp.loop()

  def run_one():
    members = loop.birth_generation(0)
    with loop.slot_pool() as pool:
      for ind in members:
        loop.publish(loop.start_training(ind, 0, pool))
    loop.finish_generation(0, members)
  loop.run = run_one
  return loop
