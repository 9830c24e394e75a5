"""The "layers" engine (compile/layers.py): the same individual trained
through per-unit programs and through the whole-network program agrees to
float rounding, units are shared across architectures, and the engine is
what `train.engine` picks."""

import json
import os
import re
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax.sharding import Mesh

from evojax_nas import config as config_lib
from evojax_nas.compile.steps import (COMPILER_OPTIONS, CONV_KERNELS,
                                     StepCache, StepConfig, cpu_accepts)
from evojax_nas.compile.program_store import ProgramStore
from evojax_nas.genomes.dna import DNA
from evojax_nas.genomes.formats import genome_from_json

from conftest import synthetic_images, train_one_chunk

# A late demo architecture: stride-2 stem, identity and linear vertices,
# widths that differ, a skip edge.
GENOME = {
    "format": "lse-dna/1", "learning_rate": 0.05, "next_id": 20,
    "vertices": [{"id": 0, "activation": "linear"},
                 {"id": 1, "activation": "linear"},
                 {"id": 2, "activation": "bn_relu"},
                 {"id": 3, "activation": "bn_relu"},
                 {"id": 4, "activation": "bn_relu"},
                 {"id": 5, "activation": "linear"}],
    "edges": [
        {"id": 10, "src": 0, "dst": 1, "kind": "conv", "skip": False,
         "filter_h": 3.0, "filter_w": 3.0, "stride": 2.0, "channels": 4.0},
        {"id": 11, "src": 1, "dst": 2, "kind": "conv", "skip": False,
         "filter_h": 3.0, "filter_w": 3.0, "stride": 1.0, "channels": 12.0},
        {"id": 12, "src": 2, "dst": 3, "kind": "identity", "skip": False,
         "filter_h": 3.0, "filter_w": 3.0, "stride": 1.0, "channels": 1.0},
        {"id": 13, "src": 3, "dst": 4, "kind": "conv", "skip": False,
         "filter_h": 5.0, "filter_w": 3.0, "stride": 2.0, "channels": 9.0},
        {"id": 14, "src": 4, "dst": 5, "kind": "conv", "skip": False,
         "filter_h": 1.0, "filter_w": 1.0, "stride": 1.0, "channels": 7.0},
        {"id": 15, "src": 1, "dst": 4, "kind": "identity", "skip": True,
         "filter_h": 3.0, "filter_w": 3.0, "stride": 1.0, "channels": 1.0},
        {"id": 16, "src": 2, "dst": 5, "kind": "identity", "skip": True,
         "filter_h": 3.0, "filter_w": 3.0, "stride": 1.0, "channels": 1.0}]}


def _cfg(engine, **kw):
  return StepConfig(num_classes=10, batch_size=8, chunk_steps=2,
                    eval_batch_size=16, engine=engine, **kw)


def _train(engine, genome, dispatches=3, lr=0.1, **kw):
  cache = StepCache(_cfg(engine, **kw), mesh=Mesh(np.array(jax.devices()[:1]),
                                                  ("data",)))
  net = cache.get(genome)
  images, labels = synthetic_images(64)
  images, labels = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
  variables = net.init(jax.random.key(3))
  state = net.new_state(variables)
  for d in range(dispatches):
    idx = (jnp.arange(16, dtype=jnp.int32).reshape(2, 8) + 16 * d) % 64
    state, metrics = train_one_chunk(net, state, images, labels, lr, idx,
                                     seed=d)
  v = jax.device_get(state.variables())
  probs = net.predict(v, images, jnp.int32(0), jnp.zeros(3), jnp.ones(3))
  return v, np.asarray(probs), jax.device_get(metrics), cache, net


def _max_diff(a, b):
  return max(float(np.max(np.abs(np.asarray(x) - np.asarray(y))))
             for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


@pytest.mark.slow
def test_layers_and_network_train_the_same_weights():
  genome = genome_from_json(GENOME)
  v_net, p_net, m_net, _, _ = _train("network", genome)
  v_lay, p_lay, m_lay, cache, net = _train("layers", genome)
  assert type(net).__name__ == "LayeredNetwork"
  assert jax.tree.structure(v_net) == jax.tree.structure(v_lay)
  # Measured on XLA:CPU: 2.6e-7 on the weights, 4.2e-7 on the
  # probabilities after six steps; one dispatch more lands at 0.24.
  diff = _max_diff(v_net, v_lay)
  assert diff < 1e-5, diff
  assert np.max(np.abs(p_net - p_lay)) < 1e-5
  assert abs(float(m_net["loss"]) - float(m_lay["loss"])) < 1e-4
  # The tolerance can fail: one dispatch more, or another augmentation key,
  # lands orders of magnitude further.
  v_more, *_ = _train("layers", genome, dispatches=4)
  assert _max_diff(v_net, v_more) > 100 * max(diff, 1e-6)


def test_a_shared_preparation_trains_what_the_fused_program_trains():
  """The split engine: the shared preparation and one compiled SGD step,
  called once a step, train what the fused chunk of steps trains."""
  genome = genome_from_json(GENOME)
  v_fused, p_fused, m_fused, _, fused = _train("network", genome)
  v_net, p_net, m_net, cache, net = _train("split", genome)
  assert net.shares_preparation and not fused.shares_preparation
  assert set(net._compiled) == {"step", "predict/64"}
  # Measured on XLA:CPU after six steps: 6.0e-8 on the weights, 1.2e-7 on
  # the probabilities (the fused chunk's program rounds a few operations
  # differently), 0 on the loss.
  diff = _max_diff(v_fused, v_net)
  assert diff < 1e-6, diff
  assert np.max(np.abs(p_fused - p_net)) < 1e-6
  assert abs(float(m_fused["loss"]) - float(m_net["loss"])) < 1e-6
  assert cache.stats()["shared_programs"]["compiled"] == 1  # preparation
  # One dispatch more lands orders of magnitude further.
  v_more, *_ = _train("split", genome, dispatches=4)
  assert _max_diff(v_fused, v_more) > 100 * max(diff, 1e-6)


# Measured on XLA:CPU after six steps (weights, probabilities): fast_compile
# network 1.8e-7 and 2.4e-7, layers 0 (bitwise); with Eigen's convolutions
# network 1.4e-7 and 3.6e-7, layers 2.4e-7 and 1.8e-7. One step more lands
# at 0.24 (test_layers_and_network_train_the_same_weights).
OPTION_SETS = {
    "fast_compile": COMPILER_OPTIONS["fast_compile"],
    "fast_compile+eigen": COMPILER_OPTIONS["fast_compile"]
    + CONV_KERNELS["eigen"],
}


@pytest.mark.parametrize("options", sorted(OPTION_SETS))
@pytest.mark.parametrize("engine", ["network", "layers"])
def test_xla_options_reach_every_program_and_train_the_same_weights(
    engine, options, monkeypatch):
  """`train.compile_options` and `train.conv_kernels` reach every program
  and change the weights by float rounding only."""
  if "eigen" in options and not cpu_accepts(CONV_KERNELS["eigen"]):
    pytest.skip("this jaxlib's XLA:CPU has no YNNPACK fusions")
  seen = []
  compile_ = jax.stages.Lowered.compile
  monkeypatch.setattr(jax.stages.Lowered, "compile",
                      lambda self, compiler_options=None: seen.append(
                          compiler_options) or compile_(self, compiler_options))
  genome = genome_from_json(GENOME)
  v_ref, p_ref, *_ = _train(engine, genome)
  assert seen and not any(seen)
  seen.clear()
  opts = OPTION_SETS[options]
  v_opt, p_opt, *_ = _train(engine, genome, compiler_options=opts)
  assert seen and all(o == dict(opts) for o in seen)
  diff = _max_diff(v_ref, v_opt)
  assert diff < 1e-5, diff
  assert np.max(np.abs(p_ref - p_opt)) < 1e-5


def _ynn_convolutions(text: str) -> int:
  """Convolutions XLA:CPU left to YNNPACK in a compiled program's text."""
  n = 0
  for name in re.findall(r"kind=kCustom, calls=%?([\w.\-]+)[^\n]*__ynn_fusion",
                         text):
    body = re.search(r"\n%?" + re.escape(name) + r" [^\n]*\{\n(.*?)\n\}",
                     text, re.S)
    n += " convolution(" in body.group(1)
  return n


def test_eigen_kernels_take_the_convolutions_from_ynnpack():
  """At a demo layer's shape XLA:CPU (jaxlib 0.10) gives the filter
  gradient to YNNPACK (one thread, ~2x Eigen's time); "eigen" keeps it."""
  if not cpu_accepts(CONV_KERNELS["eigen"]):
    pytest.skip("this jaxlib's XLA:CPU has no YNNPACK fusions")
  conv = lambda w, h: jax.lax.conv_general_dilated(
      h, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
  filter_grad = jax.jit(lambda w, h, dy: jax.vjp(
      lambda w: conv(w, h), w)[1](dy)[0]).lower(
          jax.ShapeDtypeStruct((3, 3, 16, 35), jnp.float32),
          jax.ShapeDtypeStruct((50, 16, 16, 16), jnp.float32),
          jax.ShapeDtypeStruct((50, 16, 16, 35), jnp.float32))
  compiled = {k: filter_grad.compile(
      compiler_options=dict(CONV_KERNELS[k]) or None) for k in CONV_KERNELS}
  assert _ynn_convolutions(compiled["xla"].as_text()) == 1
  assert _ynn_convolutions(compiled["eigen"].as_text()) == 0
  keys = jax.random.split(jax.random.key(0), 3)
  args = [jax.random.normal(k, a.shape) for k, a in zip(
      keys, filter_grad.in_avals[0])]
  got = {k: np.asarray(c(*args)) for k, c in compiled.items()}
  # Measured: 8.9e-7 of the largest entry (another summation order).
  rel = np.max(np.abs(got["xla"] - got["eigen"])) / np.max(np.abs(got["xla"]))
  assert 0 < rel < 1e-5, rel


def test_compile_options_resolve_per_backend_and_retrainings_take_xlas():
  from evojax_nas.runs.retrain import training_config
  from evojax_nas.train.trainer import compiler_options_for
  c = config_lib.default_config()
  t = config_lib.validate(c).train
  assert (t.compile_options, t.conv_kernels) == ("auto", "auto")
  kernels = (CONV_KERNELS["eigen"] if cpu_accepts(CONV_KERNELS["eigen"])
             else ())
  assert compiler_options_for(c, "cpu") == (
      COMPILER_OPTIONS["fast_compile"] + kernels)
  assert compiler_options_for(c, "gpu") == COMPILER_OPTIONS["default"] == ()
  # A retraining: XLA's default compile, the same convolution kernels.
  assert compiler_options_for(training_config(c), "cpu") == kernels
  c.train.conv_kernels = "xla"
  assert compiler_options_for(c, "cpu") == COMPILER_OPTIONS["fast_compile"]
  for name in COMPILER_OPTIONS:  # the config's choices are the registry's
    c.train.compile_options = name
    assert compiler_options_for(config_lib.validate(c), "tpu") == (
        COMPILER_OPTIONS[name])
  c.train.compile_options = "fastest"
  with pytest.raises(config_lib.ConfigError, match="'fast_compile'"):
    config_lib.validate(c)
  for name in CONV_KERNELS:  # the config's kernels are the registry's
    c.train.compile_options, c.train.conv_kernels = "auto", name
    assert config_lib.validate(c).train.conv_kernels == name
  assert not cpu_accepts((("xla_no_such_flag", 1),))
  c.train.conv_kernels = "mkl"
  with pytest.raises(config_lib.ConfigError, match="'eigen'"):
    config_lib.validate(c)


def test_an_old_workdir_resumes_with_xlas_own_kernels_on_one_device():
  """A config.json recorded before `train.conv_kernels` (or `cpu_devices`)
  existed reads as what the code then did (bitwise the same programs on
  resume)."""
  flat = {k: v for k, v in config_lib.flatten(
      config_lib.default_config()).items()
          if k not in ("train.conv_kernels", "train.compile_options",
                       "cpu_devices")}
  upgraded = config_lib.upgrade_recorded(flat)
  assert upgraded["train.conv_kernels"] == "xla"
  assert upgraded["train.compile_options"] == "default"
  assert upgraded["cpu_devices"] == 1


def test_a_child_reuses_its_parents_unit_programs():
  """A channel change recompiles the changed unit and its consumer, not
  the network."""
  genome = genome_from_json(GENOME)
  cache = StepCache(_cfg("layers"), mesh=Mesh(np.array(jax.devices()[:1]),
                                              ("data",)))
  cache.get(genome).precompile(64, 16, 2)
  first = cache.shared.misses
  child = dict(GENOME, edges=[dict(e, channels=5.0) if e["id"] == 14 else e
                              for e in GENOME["edges"]])
  cache.get(genome_from_json(child)).precompile(64, 16, 2)
  # conv 14's unit (fwd, bwd, infer) and the head (train, infer).
  assert cache.shared.misses - first == 5, cache.shared.misses - first
  assert cache.shared.hits == first - 5  # every other program reused


def test_an_experiment_runs_on_the_layers_engine(tiny_config, tmp_path):
  from evojax_nas.runs.dispatch import run  # pylint: disable=g-import-not-at-top
  tiny_config.train.engine = "layers"
  tiny_config.slots_per_device = 1
  results = run(tiny_config, tmp_path / "wd")
  assert results["individuals"] == tiny_config.max_individuals
  assert results["compile_cache"]["shared_programs"]["compiled"] > 0
  assert 0.0 <= results["best"]["test_accuracy"] <= 1.0


def _two_chunks_on(net, device):
  """`net` trained two chunks from fresh weights on `device`: its state."""
  with jax.default_device(device):
    images, labels = synthetic_images(64)
    images, labels = jnp.asarray(images), jnp.asarray(labels, jnp.int32)
    state = net.new_state(net.init(jax.random.key(3)))
    for d in range(2):
      idx = (jnp.arange(16, dtype=jnp.int32).reshape(2, 8) + 16 * d) % 64
      state, _ = train_one_chunk(net, state, images, labels, 0.1, idx,
                                 seed=d)
  return state


@pytest.mark.parametrize("engine", ["network", "split", "layers"])
def test_a_second_device_loads_the_programs_instead_of_compiling(engine):
  """With the host split into devices (`cpu_devices`), what one device
  compiled (an architecture, a unit, the batch preparation) is loaded on
  the other (compile/relocate.py): nothing compiles twice, and it trains
  the same bits there."""
  if len(jax.devices()) < 2:
    pytest.skip("needs --xla_force_host_platform_device_count>=2")
  genome = genome_from_json(GENOME)
  lanes = [Mesh(np.array([d]), ("data",)) for d in jax.devices()[:2]]
  cache = StepCache(_cfg(engine), mesh=lanes[0])
  weights = []
  for lane in lanes:
    net = cache.get(genome, mesh=lane)
    net.precompile(64, 16, 2)
    if lane is lanes[0]:
      compiled = cache.compiles
    state = _two_chunks_on(net, lane.devices.flat[0])
    assert jax.tree.leaves(state.params)[0].devices() == {
        lane.devices.flat[0]}
    weights.append(jax.device_get(state.variables()))
  assert cache.compiles == compiled and cache.relocations >= 2, (
      cache.compiles, compiled, cache.relocations)
  assert all(np.array_equal(a, b) for a, b in zip(
      jax.tree.leaves(weights[0]), jax.tree.leaves(weights[1])))


@pytest.mark.parametrize("engine", ["split", "layers"])
def test_a_second_run_loads_its_programs_from_the_machines_store(
    engine, tmp_path):
  """What one run compiled (an architecture's step and predict programs;
  unit and head programs; the batch preparation) the next run on the
  machine loads from the store (compile/program_store.py) instead of
  compiling, onto either CPU device, and trains the same bits."""
  store = ProgramStore(tmp_path / "programs")
  devices = jax.devices()[:2]
  weights, counts = [], []
  for device in [devices[0], devices[-1], devices[0]]:  # three "runs"
    cache = StepCache(_cfg(engine), mesh=Mesh(np.array([device]), ("data",)),
                      store=store)
    net = cache.get(genome_from_json(GENOME))
    net.precompile(64, 16, 2)
    state = _two_chunks_on(net, device)
    weights.append(jax.device_get(state.variables()))
    counts.append((cache.compiles, cache.loads))
  assert counts[0][0] > 0 and counts[0][1] == 0, counts
  assert counts[1] == (0, counts[0][0]), counts  # all loaded, none compiled
  assert counts[2] == (0, counts[0][0]), counts
  for w in weights[1:]:
    assert all(np.array_equal(a, b) for a, b in zip(
        jax.tree.leaves(weights[0]), jax.tree.leaves(w)))


def test_a_damaged_stored_program_is_dropped_and_compiled_again(tmp_path):
  store = ProgramStore(tmp_path / "programs")
  mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
  StepCache(_cfg("layers"), mesh=mesh, store=store).get(
      genome_from_json(GENOME)).precompile(64, 16, 2)
  files = sorted((tmp_path / "programs").glob("*.program"))
  assert files
  files[0].write_bytes(files[0].read_bytes()[:100])  # a crash mid-write
  cache = StepCache(_cfg("layers"), mesh=mesh, store=store)
  cache.get(genome_from_json(GENOME)).precompile(64, 16, 2)
  assert (cache.compiles, cache.loads) == (1, len(files) - 1)


def test_the_store_keeps_its_size_bound(tmp_path):
  store = ProgramStore(tmp_path / "programs", max_bytes=1)
  mesh = Mesh(np.array(jax.devices()[:1]), ("data",))
  StepCache(_cfg("layers"), mesh=mesh, store=store).get(
      genome_from_json(GENOME)).precompile(64, 16, 2)
  assert len(list((tmp_path / "programs").glob("*.program"))) > 1
  old, new = tmp_path / "programs" / "a.tmp", tmp_path / "programs" / "b.tmp"
  old.write_bytes(b"x")
  new.write_bytes(b"x")
  os.utime(old, (time.time() - 7200,) * 2)  # left by a killed process
  ProgramStore(tmp_path / "programs", max_bytes=1)  # the next run prunes
  assert not list((tmp_path / "programs").glob("*.program"))
  assert not old.exists() and new.exists()  # another's write in progress


def test_the_program_store_resolves_and_names_a_bad_folder(tmp_path):
  from evojax_nas.errors import ConfigError  # pylint: disable=g-import-not-at-top
  from evojax_nas.train.trainer import program_store  # pylint: disable=g-import-not-at-top
  config = config_lib.default_config()
  assert program_store(config, "network") is None  # no shape-keyed programs
  assert program_store(config, "layers").directory == (  # conftest's env
      tmp_path / "machine_cache" / "programs")
  config.program_store = ""
  assert program_store(config, "layers") is None
  (tmp_path / "a_file").write_text("")
  config.program_store = str(tmp_path / "a_file" / "programs")
  with pytest.raises(ConfigError, match="program_store .* cannot be used"):
    program_store(config, "split")
  config.program_store_mb = 0
  with pytest.raises(ConfigError, match="program_store_mb must be > 0"):
    config_lib.validate(config)
