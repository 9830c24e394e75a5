"""Slots: S individuals in flight per process, each on one device, with a
schedule that stays a pure function of the seed and S (child n is born
right after the result of child n - S, whatever order the slots finish
in); and the two training loops (unrolled, scan) computing the same steps.

The tests run on two forced host devices (conftest), so slots land on two
different devices."""

import json
import threading
import time

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from evojax_nas import stop
from evojax_nas.compile.steps import StepCache, StepConfig, batch_order
from evojax_nas.config import ConfigError, validate
from evojax_nas.runs.dispatch import run
from evojax_nas.genomes.dna import conv_chain
from evojax_nas.train import trainer as trainer_lib

from conftest import synthetic_images
from test_golden import trajectory


def events(workdir):
  return [json.loads(l) for l in
          (workdir / "events.jsonl").read_text().splitlines()]


def slots_config(c, slots_per_device: int, data_parallel: bool = False):
  c.slots_per_device, c.train.data_parallel = slots_per_device, data_parallel
  # Alive + in flight = the population size: S children in flight need a
  # population larger than S + the sample to keep every slot busy.
  c.population_size, c.max_individuals, c.tensorboard = 8, 24, False
  return c


# --- placement ----------------------------------------------------------------
def test_slots_go_round_robin_over_the_devices():
  assert trainer_lib.slot_lanes(5, 2) == [0, 1, 0, 1, 0]
  assert trainer_lib.slot_lanes(3, 1) == [0, 0, 0]
  meshes = trainer_lib.lane_meshes(8, data_parallel=False)
  assert [m.devices.size for m in meshes] == [1] * len(jax.local_devices())
  assert trainer_lib.lane_meshes(8, data_parallel=True)[0].devices.size == (
      len(jax.local_devices()))


@pytest.mark.parametrize("backend,spd,lanes,expected", [
    ("cpu", 0, 1, 2), ("cpu", 0, 2, 2), ("cpu", 3, 2, 6), ("gpu", 0, 8, 32),
    ("tpu", 0, 4, 16), ("gpu", 1, 8, 8)])
def test_auto_slots_by_backend(backend, spd, lanes, expected):
  from evojax_nas.config import default_config
  c = default_config()
  c.slots_per_device = spd
  assert trainer_lib.slot_count(c, lanes, backend) == expected


@pytest.mark.parametrize("backend,loop,chunks,expected", [
    ("cpu", "auto", 0, ("unrolled", 1)), ("gpu", "auto", 0, ("scan", 100)),
    ("tpu", "auto", 7, ("scan", 5)), ("cpu", "scan", 0, ("scan", 100)),
    ("gpu", "unrolled", 0, ("unrolled", 1))])
def test_loop_and_steps_per_dispatch_by_backend(backend, loop, chunks,
                                                 expected):
  from evojax_nas.config import default_config
  c = default_config()
  c.steps_per_individual, c.train.chunk_steps = 400, 4
  c.train.loop, c.train.chunks_per_dispatch = loop, chunks
  assert trainer_lib.train_loop(c, backend) == expected


@pytest.mark.parametrize("key,value", [
    ("train.loop", "while"), ("train.compute_dtype", "float16"),
    ("slots_per_device", -1), ("train.chunks_per_dispatch", -2),
    ("cpu_devices", -1)])
def test_bad_slot_and_loop_settings_are_one_line(tiny_config, key, value):
  section, _, name = key.rpartition(".")
  setattr(tiny_config[section] if section else tiny_config, name, value)
  with pytest.raises(ConfigError, match=name):
    validate(tiny_config)


def test_a_run_places_its_slots_on_both_devices(tiny_config, tmp_path):
  """Real training, S = 4 on two devices: every slot used, each device
  trains, and the log records S."""
  c = slots_config(tiny_config, 2)
  c.max_individuals = 10
  run(c, tmp_path / "wd")
  evs = events(tmp_path / "wd")
  started = [e for e in evs if e["event"] == "started"]
  assert started[0]["slots"] == 4
  slots = {e["slot"] for e in evs if e["event"] == "trained"}
  assert slots == {0, 1, 2, 3}
  assert sum(e["event"] == "trained" for e in evs) == 10


# --- the same weights on any device, alone or beside others ---------------------
@pytest.mark.slow
def test_an_individual_trains_to_the_same_weights_on_any_slot(
    tiny_config, tmp_path):
  c = tiny_config
  c.steps_per_individual = 8
  trainer = trainer_lib.build(validate(c), tmp_path, slots=2)
  assert [str(d) for d in trainer.lane(0).devices] != [
      str(d) for d in trainer.lane(1).devices]
  genome = conv_chain((6, 5), (1, 2))
  other = conv_chain((4,), (1,))
  key = jax.random.key(7)

  def digest(ident):
    return trainer.checkpoints.restore(ident)[1]["weights_sha256"]

  alone0 = trainer.train_and_validate(key, 0, genome, slot=0)
  alone1 = trainer.train_and_validate(key, 1, genome, slot=1)
  # Beside others: two threads train at once, on both devices.
  results = {}
  threads = [threading.Thread(target=lambda i=i, g=g, s=s: results.__setitem__(
      i, trainer.train_and_validate(
          key if g is genome else jax.random.key(3), i, g, slot=s)))
             for i, g, s in ((2, genome, 1), (3, other, 0), (4, genome, 0),
                             (5, other, 1))]
  for t in threads:
    t.start()
  for t in threads:
    t.join()
  trainer.close()
  assert digest(0) == digest(1) == digest(2) == digest(4)
  assert digest(3) == digest(5)
  assert (alone0.val_accuracy == alone1.val_accuracy
          == results[2].val_accuracy == results[4].val_accuracy)
  assert alone0.train_loss == alone1.train_loss == results[2].train_loss


# --- the schedule -----------------------------------------------------------------
@pytest.fixture
def out_of_order(monkeypatch, fitness_from_signature):
  """The fake evaluation sleeps a time set per run by `delays[0]` (a
  function of the id), so slots finish out of order, and leaves an empty
  checkpoint folder (a resumed run keeps the alive)."""
  calls = fitness_from_signature
  evaluate = trainer_lib.Trainer.train_and_validate
  delays = [lambda ident: 0.0]

  def slow(self, key, ident, genome, parent, **kwargs):
    time.sleep(delays[0](ident))
    self.checkpoints.path(ident).mkdir(exist_ok=True)
    return evaluate(self, key, ident, genome, parent=parent, **kwargs)
  monkeypatch.setattr(trainer_lib.Trainer, "train_and_validate", slow)
  return calls, delays


def check_births_follow_results(evs, slots: int, sample_size: int = 2):
  """Child n (not initial) is born after the result of n - S and before
  any later one: it saw exactly the results of children <= n - S (at the
  start, once a tournament's sample is trained)."""
  seen = set()
  for e in evs:
    if e["event"] == "trained":
      seen.add(e["id"])
    elif e["event"] == "born" and e["mutation"] != "initial":
      n = e["id"]
      assert seen == set(range(max(n - slots, sample_size - 1) + 1)), (
          n, sorted(seen))


@pytest.mark.parametrize("slots_per_device,data_parallel,slots", [
    (2, False, 4), (3, True, 3)])
def test_the_schedule_does_not_depend_on_which_slot_finishes_first(
    tiny_config, out_of_order, tmp_path, slots_per_device, data_parallel,
    slots):
  _, delays = out_of_order
  c = slots_config(tiny_config, slots_per_device, data_parallel)
  runs = []
  for name, delay in (("fast_last", lambda i: 0.02 * (i % slots == 0)),
                      ("reverse", lambda i: 0.01 * (slots - i % slots)),
                      ("none", lambda i: 0.0)):
    delays[0] = delay
    run(c, tmp_path / name)
    evs = events(tmp_path / name)
    check_births_follow_results(evs, slots)
    assert [e["id"] for e in evs if e["event"] == "trained"] == list(
        range(24))  # published in birth order
    runs.append(trajectory(tmp_path / name))
  assert runs[0] == runs[1] == runs[2]


def test_two_slots_are_the_recorded_golden_schedule(
    tiny_config, fitness_from_signature, tmp_path):
  """S = 2 on one lane (one child training, the next compiling) is the
  schedule the golden trajectories were recorded with."""
  from test_golden import GOLDEN
  del fitness_from_signature
  c = tiny_config
  c.population_size, c.max_individuals, c.tensorboard = 4, 16, False
  c.slots_per_device, c.train.data_parallel = 2, True
  run(c, tmp_path / "wd")
  assert trajectory(tmp_path / "wd") == json.loads(
      (GOLDEN / "tournament.json").read_text())


def test_a_run_with_four_slots_resumes_exactly(tiny_config, out_of_order,
                                               tmp_path):
  """Stopped while four children are in flight, resumed: the same births,
  kills and results as the uninterrupted run; the resumed log keeps the
  recorded S even where the machine would choose another."""
  calls, delays = out_of_order
  delays[0] = lambda i: 0.01 * (4 - i % 4)
  c = slots_config(tiny_config, 2)
  run(c, tmp_path / "whole")
  evaluate = trainer_lib.Trainer.train_and_validate

  def stop_at_the_ninth(self, key, ident, *args, **kwargs):
    if len(calls) == 8:
      stop.request("SIGTERM")
    return evaluate(self, key, ident, *args, **kwargs)
  calls.clear()
  trainer_lib.Trainer.train_and_validate = stop_at_the_ninth
  try:
    with pytest.raises(KeyboardInterrupt):
      run(c, tmp_path / "resumed")
  finally:
    trainer_lib.Trainer.train_and_validate = evaluate
    stop.clear()
  evs = events(tmp_path / "resumed")
  assert 0 < sum(e["event"] == "trained" for e in evs) < 24
  assert sum(e["event"] == "born" for e in evs) > sum(
      e["event"] == "trained" for e in evs)  # children were in flight
  c.slots_per_device = 1  # the machine's choice now: the log's S wins
  run(c, tmp_path / "resumed")
  evs = events(tmp_path / "resumed")
  assert [e["slots"] for e in evs if e["event"] == "started"] == [4, 4]
  check_births_follow_results(evs, 4)
  assert trajectory(tmp_path / "resumed") == trajectory(tmp_path / "whole")


def test_the_generational_loop_trains_a_generation_side_by_side(
    tiny_genetic_config, out_of_order, tmp_path):
  """Genetic CNN on four slots: members finish out of order, results are
  published in order, the same run as on one slot."""
  _, delays = out_of_order
  c = tiny_genetic_config
  c.tensorboard = False
  delays[0] = lambda i: 0.01 * (4 - i % 4)
  c.slots_per_device, c.train.data_parallel = 4, True
  run(c, tmp_path / "four")
  c.slots_per_device = 1
  run(c, tmp_path / "one")
  four, one = trajectory(tmp_path / "four"), trajectory(tmp_path / "one")
  assert four == one
  assert four["trained"] == sorted(four["trained"])


# --- unrolled and scan: the same steps ---------------------------------------------
_CACHES = {}


def _train(loop: str, chunks: int, dtype: str = "float32", steps: int = 6,
           rate: float = 0.1):
  cfg = StepConfig(num_classes=10, batch_size=8, chunk_steps=2,
                   eval_batch_size=8, loop=loop, chunks_per_dispatch=chunks,
                   compute_dtype=dtype)
  cache = _CACHES.setdefault(cfg, StepCache(cfg))  # compiled once per loop
  net = cache.get(conv_chain((6, 5), (1, 2)))
  x, y = synthetic_images(64, seed=3)
  images, labels = jnp.asarray(x), jnp.asarray(y, jnp.int32)
  order = batch_order(jnp.uint32(11), steps, 8, 64)
  state = net.new_state(net.init(jax.random.key(0)), seed=5)
  key = jax.random.key(2, impl="rbg")
  lr = jnp.linspace(rate, rate / 2, steps, dtype=jnp.float32)
  k = cfg.steps_per_dispatch
  for d in range(steps // k):
    state, metrics = net.train_dispatch(
        state, images, labels, order, jnp.int32(d), key, jnp.full(3, 120.),
        jnp.full(3, 60.), lr[d * k:(d + 1) * k])
  return state, metrics


@pytest.mark.slow
def test_scan_and_unrolled_loops_compute_the_same_steps():
  """Six steps: three unrolled dispatches of one chunk, one dispatch of
  three unrolled chunks, one scan over three chunks. At rate 0 the batch
  statistics agree to float32 rounding (the same batches and augmentations);
  with a rate, the same weights up to float32 rounding in differently
  fused programs, amplified by six momentum steps (measured: <= 1e-6
  between the unrolled programs, <= 1.1e-4 for the scan)."""
  frozen = [_train(loop, m, rate=0.0)[0].variables()
            for loop, m in (("unrolled", 1), ("unrolled", 3), ("scan", 3))]
  for other in frozen[1:]:
    for x, y in zip(jax.tree.leaves(frozen[0]), jax.tree.leaves(other)):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=1e-5,
                                 atol=1e-6)
  a, ma = _train("unrolled", 1)
  b, mb = _train("unrolled", 3)
  c, mc = _train("scan", 3)
  for other, m, tol in ((b, mb, 1e-5), (c, mc, 5e-4)):
    for x, y in zip(jax.tree.leaves(a.variables()),
                    jax.tree.leaves(other.variables())):
      np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=tol,
                                 atol=tol)
    np.testing.assert_allclose(float(ma["loss"]), float(m["loss"]),
                               rtol=1e-5)
  assert int(c.step) == 6


def test_the_batch_order_walks_shuffled_epochs():
  order = np.asarray(batch_order(jnp.uint32(3), 10, 8, 32))  # 2.5 epochs
  flat = order.reshape(-1)
  for e in range(2):
    assert sorted(flat[32 * e:32 * (e + 1)]) == list(range(32))
  assert len(set(flat[64:])) == 16  # half an epoch, no repeats
  assert not (order == np.asarray(batch_order(jnp.uint32(4), 10, 8, 32))).all()


def test_bfloat16_compute_keeps_float32_weights_and_trains():
  f32, m32 = _train("unrolled", 1)
  bf16, m16 = _train("unrolled", 1, "bfloat16")
  dtypes = {x.dtype for x in jax.tree.leaves(bf16.variables())}
  assert dtypes == {jnp.dtype(jnp.float32)}
  assert {x.dtype for x in jax.tree.leaves(bf16.opt_state)} == {
      jnp.dtype(jnp.float32)}
  # The same training up to bfloat16's 8-bit mantissa.
  assert abs(float(m16["loss"]) - float(m32["loss"])) < 0.05 * float(
      m32["loss"])
  for x, y in zip(jax.tree.leaves(f32.params), jax.tree.leaves(bf16.params)):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), atol=0.05)
  assert np.isfinite(float(m16["loss"]))



# --- one process per host ------------------------------------------------------------
@pytest.mark.slow
def test_ray_places_one_worker_per_node():
  """A STRICT_SPREAD placement group: on this one-node cluster one worker
  fits, two are refused with one line naming the way out."""
  ray = pytest.importorskip("ray")
  from evojax_nas.config import default_config
  from evojax_nas.runs import launch
  ray.init(include_dashboard=False, num_cpus=2, log_to_driver=False)
  try:
    c = default_config()
    c.num_workers = 1
    strategy = launch._one_per_node(ray, c, timeout_s=60)  # pylint: disable=protected-access
    assert strategy.placement_group.bundle_count == 1
    c.num_workers = 2
    with pytest.raises(ConfigError, match="fewer than 2 nodes.*ray_placement"):
      launch._one_per_node(ray, c, timeout_s=3)  # pylint: disable=protected-access
  finally:
    ray.shutdown()


def test_local_workers_see_every_device(tmp_path, monkeypatch):
  """No per-worker device variables: each worker drives all of the host's
  devices with its slots."""
  from evojax_nas.runs import launch
  seen = {}

  class Popen:
    def __init__(self, cmd, env, **kwargs):
      del kwargs
      seen[cmd[-1]] = env
  monkeypatch.setattr(launch.subprocess, "Popen", Popen)
  monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
  for i in range(2):
    launch.start_worker(tmp_path, f"w{i}")
  assert set(seen) == {"w0", "w1"}
  assert not any("CUDA_VISIBLE_DEVICES" in env for env in seen.values())


# --- the host split into devices (cpu_devices) ---------------------------------
@pytest.mark.parametrize("cpu_devices,workers,data_parallel,flags,expected", [
    (0, 0, False, "", 2), (0, 0, False, "--xla_force_host_platform_device_"
                           "count=4", None), (0, 2, False, "", None),
    (0, 0, True, "", None), (3, 2, True, "", 3), (1, 0, False, "", 1)])
def test_cpu_devices_resolve(cpu_devices, workers, data_parallel, flags,
                             expected):
  from evojax_nas.config import default_config
  c = default_config()
  c.cpu_devices, c.num_workers = cpu_devices, workers
  c.train.data_parallel = data_parallel
  assert trainer_lib.cpu_device_count(c, 2, flags) == expected
  assert trainer_lib.cpu_device_count(c, 1, flags) == (
      expected if cpu_devices or expected is None else 1)


@pytest.mark.slow
def test_a_run_splits_the_host_for_its_slots_and_gives_it_back_at_the_end(
    cifar10_dir, tmp_path):
  """Auto: the two slots on two XLA:CPU devices, the final stage on one
  again (JAX's backends rebuilt between them), in one process."""
  from conftest import write_cli_config  # pylint: disable=g-import-not-at-top
  from test_mistakes import cli  # pylint: disable=g-import-not-at-top
  cfg = write_cli_config(tmp_path / "cfg.py", cifar10_dir, tmp_path / "cache",
                         max_individuals=5, max_steps=0, time_budget_s=40.0,
                         **{"final.fraction": 0.25, "retrain.eval_points": 2})
  done = cli(f"--config={cfg}", f"--workdir={tmp_path / 'wd'}",
             XLA_FLAGS="")
  assert done.returncode == 0, done.stderr[-3000:]
  log = done.stderr
  assert "2 slots on cpu:0, cpu:1" in log, log
  assert log.index("the host is one CPU device again") < log.index(
      "retraining individual"), log
  final = json.loads((tmp_path / "wd" / "retrained" / "final" /
                      "results.json").read_text())
  assert final["steps"] > 0 and final["test_accuracy"] is not None
