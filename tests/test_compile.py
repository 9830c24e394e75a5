"""Genome -> Flax compilation: shape resolution, compile cache, FLOPs."""

import os

import chex
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import synthetic_images, train_one_chunk
from jax.sharding import Mesh

from evojax_nas.compile import flops as flops_lib
from evojax_nas.compile.network import DNANet, match_shape
from evojax_nas.compile.steps import (CompiledNetwork, StepCache, StepConfig,
                                      data_mesh)
from evojax_nas.genomes.dna import DNA, Edge, Vertex, conv_chain
from evojax_nas.genomes.mutations import mutate, mutation_probabilities



class CompileCounter:
  """Counts XLA backend compilations via JAX's monitoring events."""

  def __init__(self):
    self.count = 0

  def __call__(self, event, duration, **kwargs):
    if event == "/jax/core/compile/backend_compile_duration":
      self.count += 1

  def __enter__(self):
    jax.monitoring.register_event_duration_secs_listener(self)
    return self

  def __exit__(self, *exc):
    jax.monitoring.unregister_event_duration_listener(self)


def test_skip_inputs_are_resized_by_nearest_neighbour_and_channel_padding():
  x = jnp.arange(2 * 4 * 4 * 3, dtype=jnp.float32).reshape(2, 4, 4, 3)
  down = match_shape(x, (2, 2, 2, 5))
  np.testing.assert_array_equal(down[..., :3], x[:, ::2, ::2, :])
  np.testing.assert_array_equal(down[..., 3:], 0.0)
  up = match_shape(x, (2, 8, 8, 2))
  np.testing.assert_array_equal(up, jnp.repeat(jnp.repeat(x, 2, 1), 2, 2)[..., :2])


def test_backbone_edge_is_primary_at_a_vertex():
  # input(32x32x3) -conv s2 16ch-> v1 (16x16x16), skip input -> v1.
  dna = DNA((Vertex(0), Vertex(1, "bn_relu")),
            (Edge(2, 0, 1, "conv", False, 3.0, 3.0, 2.0, 16.0),
             Edge(3, 0, 1, "identity", True)), 0.1, 4)
  assert dna.shapes()[1] == (16, 16, 16)
  model = DNANet(dna.signature(), 10)
  v = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  assert v["params"]["conv_2"]["kernel"].shape == (3, 3, 3, 16)
  assert model.apply(v, jnp.ones((4, 32, 32, 3))).shape == (4, 10)


def _train_once(cache, dna, data):
  images, labels, evals = data
  net = cache.get(dna, count=True)
  state = net.new_state(net.init(jax.random.key(0)))
  state, metrics = train_one_chunk(net, state, images, labels,
                                   dna.learning_rate)
  probs = net.predict(state.variables(), evals, jnp.int32(0), jnp.zeros(3),
                      jnp.ones(3))
  jax.block_until_ready((metrics, probs))


def test_identity_and_learning_rate_children_never_recompile():
  cfg = StepConfig(num_classes=10, batch_size=8, chunk_steps=2,
                   eval_batch_size=8)
  cache = StepCache(cfg)
  data = (jnp.zeros((64, 32, 32, 3), jnp.uint8), jnp.zeros((64,), jnp.int32),
          jnp.zeros((16, 32, 32, 3), jnp.uint8))
  parent = conv_chain((4, 8), (2, 2))
  _train_once(cache, parent, data)
  compiles = cache.compiles
  key = jax.random.key(0)
  with CompileCounter() as counter:
    for i, name in enumerate(["identity", "alter_learning_rate"] * 3):
      child, _ = mutate(parent, jax.random.fold_in(key, i),
                        mutation_probabilities({name: 1.0}))
      _train_once(cache, child, data)
      parent = child
  assert counter.count == 0
  assert cache.compiles == compiles
  assert cache.stats()["hits"] == 6
  # A structural change does compile (the counter works).
  with CompileCounter() as counter:
    _train_once(cache, conv_chain((4, 8, 8), (2, 2, 1)), data)
  assert counter.count >= 2


def test_programs_trace_once_per_architecture(monkeypatch):
  """The compile cache is keyed by the architecture's signature, so every
  genome of one architecture (children differing in learning rate only)
  runs the train and predict programs traced for the first; chex counts
  the traces, and a new architecture's trace is the one too many. The SGD
  step is traced once for the chunk's unrolled steps and the FLOP count."""
  chex.clear_trace_counter()
  for name in ("_train_dispatch", "_predict", "_train_step"):
    monkeypatch.setattr(CompiledNetwork, name, chex.assert_max_traces(
        getattr(CompiledNetwork, name), n=1))
  cache = StepCache(StepConfig(num_classes=10, batch_size=8, chunk_steps=2,
                               eval_batch_size=8))
  data = (jnp.zeros((64, 32, 32, 3), jnp.uint8), jnp.zeros((64,), jnp.int32),
          jnp.zeros((16, 32, 32, 3), jnp.uint8))
  parent = conv_chain((4, 8), (2, 2))
  for lr in (0.1, 0.05, 0.2):
    _train_once(cache, parent.replace(learning_rate=lr), data)
    assert cache.get(parent).flops()["train_step"] > 0
  assert cache.stats()["hits"] == 2
  with pytest.raises(AssertionError, match="traced > 1 times"):
    _train_once(cache, conv_chain((4, 8, 8), (2, 2, 1)), data)
  chex.clear_trace_counter()


def test_data_parallel_step_matches_one_device():
  if len(jax.devices()) < 2:
    pytest.skip("needs --xla_force_host_platform_device_count>=2")
  dna = conv_chain((4,), (1,))
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 255, (32, 32, 32, 3)), jnp.uint8)
  labels = jnp.asarray(rng.integers(0, 10, (32,)), jnp.int32)
  evals = images[:16]
  results = []
  for devices in (jax.devices()[:1], jax.devices()[:2]):
    cfg = StepConfig(num_classes=10, batch_size=8, chunk_steps=2,
                     eval_batch_size=8)
    mesh = data_mesh(cfg.batch_size, devices)
    assert mesh.size == len(devices)
    cache = StepCache(cfg, mesh)
    net = cache.get(dna)
    state = net.new_state(net.init(jax.random.key(0)))
    idx = jnp.arange(16, dtype=jnp.int32).reshape(2, 8)
    state, m = train_one_chunk(net, state, images, labels, 0.1, idx)
    probs = net.predict(state.variables(), evals, jnp.int32(0), jnp.zeros(3),
                        jnp.ones(3))
    results.append((jax.device_get(state.params), float(m["loss"]),
                    np.asarray(probs)))
  (p1, l1, o1), (p2, l2, o2) = results
  assert l1 == pytest.approx(l2, rel=1e-5)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4,
                                                       atol=1e-5), p1, p2)
  np.testing.assert_allclose(o1, o2, rtol=1e-4, atol=1e-5)


def test_flops_of_a_known_network():
  # One 3x3 conv, 3->4 channels, stride 1 on 32x32, then GAP + dense 4->10.
  dna = conv_chain((4,), (1,))
  dna = dna.replace(vertices=(dna.vertices[0], dna.vertices[1].replace(
      activation="linear")))
  model = DNANet(dna.signature(), 10)
  x = jax.ShapeDtypeStruct((5, 32, 32, 3), jnp.float32)
  variables = jax.eval_shape(model.init, jax.random.key(0), x)
  got = flops_lib.count_flops(model.apply, variables, x)
  conv = 2 * 5 * 32 * 32 * 4 * 9 * 3
  bias = 5 * 32 * 32 * 4
  pool = 5 * 32 * 32 * 4 + 5 * 4      # reduce_sum + divide
  dense = 2 * 5 * 4 * 10 + 5 * 10
  assert got == conv + bias + pool + dense


def test_train_step_flops_are_about_three_forwards():
  cache = StepCache(StepConfig(num_classes=10))
  f = cache.get(conv_chain((16, 32), (1, 2))).flops()
  assert 2.5 < f["train_step"] / f["eval_batch"] < 4.0


def test_host_initialisation_matches_the_module_initialisers():
  from evojax_nas.compile.network import sample_variables
  dna = conv_chain((64, 32), (1, 2))
  model = DNANet(dna.signature(), 10)
  flax_vars = model.init(jax.random.key(0), jnp.zeros((1, 32, 32, 3)))
  host = sample_variables(jax.eval_shape(lambda: flax_vars),
                          np.random.default_rng(0))
  assert jax.tree.structure(host) == jax.tree.structure(flax_vars)
  for layer, fan_in, gain in (("conv_2", 27, 2.0), ("conv_4", 576, 2.0),
                              ("head", 32, 1.0)):
    for v in (host, flax_vars):
      k = np.asarray(v["params"][layer]["kernel"])
      assert np.std(k) == pytest.approx(np.sqrt(gain / fan_in), rel=0.15)
  np.testing.assert_array_equal(host["batch_stats"]["bn_1"]["var"], 1.0)
  np.testing.assert_array_equal(host["params"]["bn_1"]["bias"], 0.0)


def test_persistent_cache_serves_a_new_process_worth_of_programs(tmp_path):
  from evojax_nas.compile import persistent_cache
  persistent_cache.enable(tmp_path / "compile_cache")
  cfg = StepConfig(num_classes=10, batch_size=8, chunk_steps=1,
                   eval_batch_size=8)
  dna = conv_chain((5, 7), (2, 1))
  first = StepCache(cfg)
  first.get(dna).precompile(32, 16)
  assert first.stats()["persistent_hits"] == 0
  assert any((tmp_path / "compile_cache").iterdir())
  second = StepCache(cfg)  # a fresh cache, as in a restarted process
  second.get(dna).precompile(32, 16)
  assert second.stats()["persistent_hits"] >= 2  # train chunk and predict


def test_a_program_from_the_persistent_cache_compiles_on_another_device(
    tmp_path):
  """Loaded from the persistent cache, a program serialized again lacks its
  kernels ("Function ... not found" when run): another device compiles its
  own instead of relocating it, and trains."""
  if len(jax.devices()) < 2:
    pytest.skip("needs --xla_force_host_platform_device_count>=2")
  from evojax_nas.compile import persistent_cache
  persistent_cache.enable(tmp_path / "compile_cache")
  cfg = StepConfig(num_classes=10, batch_size=8, chunk_steps=1,
                   eval_batch_size=8)
  lanes = [Mesh(np.array([d]), ("data",)) for d in jax.devices()[:2]]
  dna = conv_chain((5, 7), (2, 1))
  StepCache(cfg, mesh=lanes[0]).get(dna).precompile(32, 16)
  cache = StepCache(cfg, mesh=lanes[0])  # as in a restarted process
  cache.get(dna).precompile(32, 16)
  assert cache.stats()["persistent_hits"] >= 2
  net = cache.get(dna, mesh=lanes[1])
  net.precompile(32, 16)
  assert cache.stats()["relocated"] == 0
  with jax.default_device(lanes[1].devices.flat[0]):
    images, labels = synthetic_images(32)
    state = net.new_state(net.init(jax.random.key(0)))
    _, metrics = train_one_chunk(net, state, jnp.asarray(images),
                                 jnp.asarray(labels, jnp.int32), 0.1)
    assert np.isfinite(jax.device_get(metrics)["loss"])


@pytest.mark.slow
def test_compiled_networks_are_bounded_and_their_memory_released():
  """Each XLA:CPU executable holds hundreds of memory mappings (~280 for a
  one-conv train chunk); without a bound a long run hits vm.max_map_count
  (65530) and LLVM fails to allocate. An evicted network frees them."""
  import gc
  maps_file = "/proc/self/maps"
  if not os.path.exists(maps_file):
    pytest.skip("needs /proc/self/maps")
  maps = lambda: sum(1 for _ in open(maps_file))
  cfg = StepConfig(num_classes=10, batch_size=8, chunk_steps=1,
                   eval_batch_size=8)
  cache = StepCache(cfg, max_networks=2)
  counts = []
  for i in range(8):
    cache.get(conv_chain((3 + i,), (1,))).precompile(32, 16)
    gc.collect()
    counts.append(maps())
  assert cache.evictions == 6
  assert counts[-1] - counts[3] < 50  # flat once the bound is reached
