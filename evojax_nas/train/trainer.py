"""The trainer: compile, inherit, train, validate, checkpoint.

`Trainer.evaluate(...)` turns a genome into a `Result` (fitness =
validation accuracy; cost = FLOPs and seconds) and leaves the trained
weights in the checkpoint store under the individual's id; `train(...)`
does the same but trains without a parent (or partner) whose checkpoint is
unusable. It never decides who dies: the reproduction loop does
(experiment/loop.py). `build(config, workdir)` assembles one from an
experiment's config.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P

from evojax_nas import config as config_lib
from evojax_nas.compile import flops as flops_lib
from evojax_nas.compile import memory, persistent_cache
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.train import data as data_lib
from evojax_nas.train.checkpoints import CheckpointError, CheckpointStore
from evojax_nas.train.data import Dataset
from evojax_nas.train.inheritance import blend
from evojax_nas.train.inheritance import inherit as inherit_weights


@dataclasses.dataclass(frozen=True)
class Result:
  id: int
  val_accuracy: float
  test_accuracy: float | None
  train_loss: float
  train_accuracy: float
  steps: int
  flops: dict[str, int]          # train_step Ft, eval_batch Fv, total
  inherited: tuple[str, ...]
  partial: tuple[str, ...]
  fresh: tuple[str, ...]
  seconds: dict[str, float]      # compile, restore, train, eval, save
  blended: tuple[str, ...] = ()  # averaged with a recombination partner
  # Selection costs: "flops" (inference, per image), "params", and
  # "latency" (ms per eval batch) where measured.
  costs: dict[str, float] = dataclasses.field(default_factory=dict)


def learning_rates(base: float, steps: int, schedule=()) -> np.ndarray:
  """Each step's learning rate (float32 [steps]): `base`, times FACTOR
  from step round(FRACTION × steps) on for each (FRACTION, FACTOR) of the
  stepped `schedule` (as optax.piecewise_constant_schedule with those
  boundaries; () = constant)."""
  rates = np.full(steps, base, np.float64)
  for fraction, factor in schedule:
    rates[int(round(fraction * steps)):] = base * factor
  return rates.astype(np.float32)


def _fast_key(key: jax.Array) -> jax.Array:
  """An RBG key derived from a threefry key: on-device augmentation then
  compiles several times faster on XLA:CPU than with threefry."""
  return jax.random.key(int(jax.random.bits(key, dtype=jnp.uint32)),
                        impl="rbg")


class DeviceData:
  """The data set resident on the devices: uint8 images, int32 labels, eval
  splits padded to whole eval batches."""

  def __init__(self, dataset: Dataset, mesh, eval_batch_size: int,
               train: bool = True):
    rep = NamedSharding(mesh, P())
    put = lambda x: jax.device_put(x, rep)
    # Without `train` (finishing a run: predictions only) the training
    # images stay on the host.
    self.train_images = put(dataset.train_images) if train else None
    self.train_labels = put(dataset.train_labels) if train else None
    self.num_train = len(dataset.train_labels)
    self.mean = put(jnp.asarray(dataset.mean))
    self.std = put(jnp.asarray(dataset.std))
    self.eval_batch_size = eval_batch_size
    # Validation and test images in one padded array, so a single compiled
    # predict step serves both: split -> (first row, rows, labels).
    self.splits, self.starts, parts, offset = {}, {}, [], 0
    for name in ("val", "test"):
      x = getattr(dataset, f"{name}_images")
      pad = -len(x) % eval_batch_size
      parts += [x, np.zeros((pad,) + x.shape[1:], x.dtype)]
      self.splits[name] = (offset, len(x) + pad,
                           getattr(dataset, f"{name}_labels"))
      self.starts[name] = [put(np.int32(s)) for s in range(
          offset, offset + len(x) + pad, eval_batch_size)]
      offset += len(x) + pad
    self.eval_images = put(np.concatenate(parts))


log = logging.getLogger("evojax_nas")


class Trainer:
  """Trains individuals for `steps` SGD steps each, with weight inheritance."""

  def __init__(self, dataset: Dataset, step_config: StepConfig,
               checkpoints: CheckpointStore, steps: int,
               weight_inheritance: bool = True,
               inheritance_mode: str = "exact",
               cache: StepCache | None = None, for_training: bool = True,
               lr_schedule=(), measure_latency: bool = False):
    self.dataset = dataset
    self.cfg = step_config
    self.cache = cache or StepCache(step_config)
    self.data = DeviceData(dataset, self.cache.mesh,
                           step_config.eval_batch_size, train=for_training)
    self.checkpoints = checkpoints
    self.steps = steps
    self.weight_inheritance = weight_inheritance
    self.inheritance_mode = inheritance_mode
    self.lr_schedule = tuple(tuple(p) for p in lr_schedule)
    self.measure_latency = measure_latency
    # XLA:CPU with several devices deadlocks at a collective's rendezvous
    # when many multi-device train chunks are in flight at once (measured:
    # a 40-individual run on 2 forced host devices aborted after 40 s
    # waiting in an all-gather; waiting for each chunk ended it). CPUs gain
    # nothing from queuing chunks; GPUs and TPUs order them per stream.
    self._one_chunk_in_flight = (self.cache.mesh.devices.size > 1 and
                                 jax.default_backend() == "cpu")
    self._idx_sharding = NamedSharding(self.cache.mesh, P(None, "data"))
    self._replicated = NamedSharding(self.cache.mesh, P())
    self._chunk_numbers = [jax.device_put(np.int32(i), self._replicated)
                           for i in range(steps // step_config.chunk_steps)]

  def compile_async(self, genome):
    """Starts compiling `genome`'s programs for this data on the cache's
    background thread (see `StepCache.compile_async`)."""
    return self.cache.compile_async(genome, self.data.num_train,
                                    self.data.eval_images.shape[0])

  def _rates(self, base: float) -> list:
    """Per chunk, its steps' learning rates on the devices (a few distinct
    arrays, each put once)."""
    k, put = self.cfg.chunk_steps, {}
    rates = learning_rates(base, self.steps, self.lr_schedule)
    out = []
    for i in range(self.steps // k):
      chunk = rates[i * k:(i + 1) * k]
      key = chunk.tobytes()
      if key not in put:
        put[key] = jax.device_put(chunk, self._replicated)
      out.append(put[key])
    return out

  def _batches(self, seed: int):
    """Index chunks (chunk_steps, batch) walking shuffled epochs."""
    rng = np.random.default_rng(seed)
    b, k = self.cfg.batch_size, self.cfg.chunk_steps
    buf = np.empty(0, np.int32)
    while True:
      while len(buf) < b * k:
        buf = np.concatenate([buf, rng.permutation(self.data.num_train)
                              .astype(np.int32)])
      chunk, buf = buf[:b * k], buf[b * k:]
      yield jax.device_put(chunk.reshape(k, b), self._idx_sharding)

  def predict(self, genome, variables: Any, split: str) -> np.ndarray:
    """Class probabilities of every image of `split` ('val' or 'test')."""
    net = self.cache.get(genome)
    labels = self.data.splits[split][2]
    probs = [net.predict(variables, self.data.eval_images, s, self.data.mean,
                         self.data.std) for s in self.data.starts[split]]
    return np.concatenate(jax.device_get(probs))[:len(labels)]

  def latency_ms(self, genome, variables: Any, repeats: int = 5) -> float:
    """Median wall time of one eval batch's predictions on the devices it
    trains on, in milliseconds (its program is compiled and warm)."""
    net = self.cache.get(genome)
    args = (variables, self.data.eval_images, self.data.starts["val"][0],
            self.data.mean, self.data.std)
    jax.block_until_ready(net.predict(*args))
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(net.predict(*args))
      times.append(time.perf_counter() - t0)
    return round(1e3 * float(np.median(times)), 4)

  def costs(self, genome, variables: Any | None = None) -> dict[str, float]:
    """FLOPs per image of inference and parameters (analytic, from shapes);
    with `variables` and `measure_latency`, the measured latency too."""
    net = self.cache.get(genome)
    out = {"flops": net.flops()["eval_batch"] // self.cfg.batch_size,
           "params": flops_lib.count_params(net.abstract_variables)}
    if variables is not None and self.measure_latency:
      out["latency"] = self.latency_ms(genome, variables)
    return out

  def accuracy(self, genome, variables: Any, split: str) -> float:
    labels = self.data.splits[split][2]
    pred = self.predict(genome, variables, split).argmax(-1)
    return float(np.mean(pred == labels))

  def evaluate(self, key: jax.Array, individual: int, genome,
               parent: tuple[int, Any] | None = None,
               inherit: bool = True,
               test_above: float | None = None,
               partner: tuple[int, Any] | None = None) -> Result:
    """Trains `genome` (from `parent`'s weights where inheritance applies,
    averaged with `partner`'s where given), validates it and saves its
    checkpoint as `individual`. The test accuracy is measured only if the
    validation accuracy exceeds `test_above` (None: never)."""
    seconds = dict.fromkeys(("compile", "restore", "train", "eval", "save"),
                            0.0)
    k_init, k_data, k_aug, k_dropout = jax.random.split(key, 4)
    net = self.cache.get(genome, count=True)

    t0 = time.perf_counter()
    variables = net.init(k_init)
    report = {"inherited": [], "partial": [],
              "fresh": sorted(variables["params"])}
    if parent is not None and inherit and self.weight_inheritance:
      parent_id, parent_genome = parent
      parent_vars, _ = self.checkpoints.restore(
          parent_id, self.cache.get(parent_genome).abstract_variables)
      variables, report = inherit_weights(variables, parent_vars,
                                          self.inheritance_mode)
      if partner is not None:
        partner_vars, _ = self.checkpoints.restore(
            partner[0], self.cache.get(partner[1]).abstract_variables)
        variables, report["blended"] = blend(variables, partner_vars)
    state = net.new_state(variables, seed=int(
        jax.random.bits(k_dropout, dtype=jnp.uint32)))
    seconds["restore"] = time.perf_counter() - t0

    # Waits for (or does) this architecture's compilation: time on the
    # critical path, whether or not it started in the background.
    t0 = time.perf_counter()
    net.precompile(self.data.num_train, self.data.eval_images.shape[0])
    seconds["compile"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    batches = self._batches(int(jax.random.bits(k_data, dtype=jnp.uint32)))
    k_aug = _fast_key(k_aug)
    rates = self._rates(genome.learning_rate)
    d = self.data
    for i in range(self.steps // self.cfg.chunk_steps):
      state, metrics = net.train_chunk(
          state, d.train_images, d.train_labels, next(batches), k_aug,
          self._chunk_numbers[i], d.mean, d.std, rates[i])
      if self._one_chunk_in_flight:
        jax.block_until_ready(metrics)
    last = jax.device_get(metrics)  # the last chunk's mean loss and accuracy
    seconds["train"] = time.perf_counter() - t0

    # The checkpoint is written (Orbax, asynchronously) while validation
    # and test run; `save` counts only the time spent waiting for it.
    t0 = time.perf_counter()
    variables = state.variables()
    self.checkpoints.save(individual, variables, {
        "id": individual, "genome": genome.to_json(), "steps": self.steps})
    seconds["save"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    val = self.accuracy(genome, variables, "val")
    test = None
    if test_above is not None and val > test_above:
      test = self.accuracy(genome, variables, "test")
    costs = self.costs(genome, variables)
    seconds["eval"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    self.checkpoints.wait()  # complete before the caller logs `trained`
    seconds["save"] += time.perf_counter() - t0

    f = net.flops()
    n_val_batches = -(-len(d.splits["val"][2]) // self.cfg.batch_size)
    flops = dict(f, total=f["train_step"] * self.steps
                 + f["eval_batch"] * n_val_batches)
    return Result(id=individual, val_accuracy=val, test_accuracy=test,
                  train_loss=float(last["loss"]),
                  train_accuracy=float(last["accuracy"]), steps=self.steps,
                  flops=flops, inherited=tuple(report["inherited"]),
                  partial=tuple(report["partial"]),
                  fresh=tuple(report["fresh"]),
                  blended=tuple(report.get("blended", ())),
                  seconds={k: round(v, 4) for k, v in seconds.items()},
                  costs=costs)

  def train(self, key: jax.Array, individual: int, genome,
            parent: tuple[int, Any] | None, partner: tuple[int, Any] | None,
            inherit: bool, test_above: float | None,
            discard: Callable[[int, Exception], None]) -> Result:
    """`evaluate`, except that a parent or partner whose checkpoint is
    missing or corrupt is handed to `discard(id, error)` and the child
    trains without it (from fresh weights where it was the parent)."""
    while True:
      try:
        return self.evaluate(key, individual, genome, parent,
                             inherit=inherit, partner=partner,
                             test_above=test_above)
      except CheckpointError as err:
        if parent is not None and err.individual == parent[0]:
          parent = None
        elif partner is not None and err.individual == partner[0]:
          partner = None
        else:
          raise
        discard(err.individual, err)
        log.warning("%s: individual %d is discarded; individual %d trains "
                    "without it", err, err.individual, individual)

  def close(self):
    """Stops background compiles and waits for checkpoint writes."""
    self.cache.close()
    self.checkpoints.close()


def _effective_chunk(steps: int, chunk: int) -> int:
  """The largest chunk size <= `chunk` that divides `steps`."""
  return max(d for d in range(1, min(chunk, steps) + 1) if steps % d == 0)


def build(config, workdir: Path, for_training: bool = True) -> Trainer:
  """The trainer of an experiment: its data on the devices, the compiled
  step cache (bounded by memory mappings), the checkpoint store in
  `workdir/checkpoints` and JAX's persistent compile cache. Not
  `for_training`: it predicts and restores only (the end of a run)."""
  d, t = config.data, config.train
  dataset = data_lib.load(d.name, d.dir or None, d.cache_dir or None,
                          d.val_size, d.split_seed, d.train_size or None,
                          url=d.url or None)
  if t.batch_size > len(dataset.train_labels):
    raise config_lib.ConfigError(
        f"train.batch_size={t.batch_size} exceeds the "
        f"{len(dataset.train_labels):,} training images; lower it (or "
        "data.val_size, or raise data.train_size)")
  step_config = StepConfig(
      num_classes=dataset.num_classes,
      image_shape=dataset.train_images.shape[1:],
      batch_size=t.batch_size,
      chunk_steps=_effective_chunk(config.steps_per_individual,
                                   t.chunk_steps),
      eval_batch_size=t.eval_batch_size, momentum=t.momentum,
      weight_decay=t.weight_decay, crop_padding=t.crop_padding, flip=t.flip)
  if config.persistent_compile_cache:
    persistent_cache.enable(workdir / "compile_cache",
                            config.persistent_cache_min_compile_s)
  max_maps = memory.max_mappings()
  cache = StepCache(step_config,
                    max_networks=config.compiled_networks_in_memory,
                    max_mappings=max_maps and max(1, int(
                        config.resources.cache_map_fraction * max_maps)))
  return Trainer(dataset, step_config, CheckpointStore(workdir / "checkpoints"),
                 config.steps_per_individual, config.weight_inheritance,
                 config.inheritance_mode, cache, for_training=for_training,
                 lr_schedule=t.lr_schedule,
                 measure_latency="latency" in tuple(config.objectives))
