"""The trainer: compile, inherit, train, validate, checkpoint.

`Trainer.train_and_validate(...)` turns a genome into a `Result` (fitness =
validation accuracy; cost = FLOPs and seconds) and leaves the trained
weights in the checkpoint store under the individual's id; `train_child(...)`
does the same but trains without a parent (or partner) whose checkpoint is
unusable. It never decides who dies: the reproduction loop does
(evolution/loop.py). `build(config, workdir)` assembles one from an
experiment's config.

Slots: the loop opens them (`open_slots`) and trains each child on one of
their threads (`Slots.train_child`); slot s trains on
lane `slot_lanes[s]` (one local device, round-robin; or every device
data-parallel), whose data, batch-order program and per-device programs
it uses. Nothing an individual computes depends on its slot.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.extend import backend as jax_backend
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from evojax_nas.compile import flops as flops_lib
from evojax_nas.compile import memory, persistent_cache
from evojax_nas.compile.program_store import ProgramStore, default_directory
from evojax_nas.compile.steps import (COMPILER_OPTIONS, CONV_KERNELS,
                                      StepCache, StepConfig, batch_order,
                                      cpu_accepts, data_mesh)
from evojax_nas.errors import ConfigError
from evojax_nas.train import data as data_lib
from evojax_nas.train.checkpoints import CheckpointError, CheckpointStore
from evojax_nas.train.data import Dataset
from evojax_nas.train.inheritance import blend
from evojax_nas.train.inheritance import inherit as inherit_weights
from evojax_nas.workdir import CHECKPOINTS, COMPILE_CACHE


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
  # Why the training failed (its loss or weights became NaN or infinite):
  # the individual counts with validation accuracy 0 and is never the
  # answer. None: trained.
  failed: str | None = None


def non_finite(loss: float, variables: Any) -> str | None:
  """What is not finite after a training (None: all is)."""
  if not np.isfinite(loss):
    return f"training loss became {loss}"
  for path, leaf in jax.tree_util.tree_leaves_with_path(variables):
    if not np.isfinite(np.asarray(leaf)).all():
      return f"weights {jax.tree_util.keystr(path)} became non-finite"
  return None


class Cancelled(RuntimeError):
  """A training stopped by `Trainer.cancel` (its loop is leaving)."""


def learning_rates(base: float, steps: int, schedule=()) -> np.ndarray:
  """Each step's learning rate (float32 [steps]): `base`, times FACTOR
  from step round(FRACTION × steps) on for each (FRACTION, FACTOR) of the
  stepped `schedule` (as optax.piecewise_constant_schedule with those
  boundaries; () = constant)."""
  rates = np.full(steps, base, np.float64)
  for fraction, factor in schedule:
    rates[int(round(fraction * steps)):] = base * factor
  return rates.astype(np.float32)


def scheduled_rates(base: float, steps: int, schedule: str, lr_steps=(),
                    warmup_fraction: float = 0.0) -> np.ndarray:
  """Each step's learning rate under a named schedule: "stepped"
  (`learning_rates` with `lr_steps`), "constant", or "cosine" (linear
  warm-up from 0 over `warmup_fraction` of the steps, then cosine to 0)."""
  if schedule == "stepped":
    return learning_rates(base, steps, lr_steps)
  if schedule == "constant":
    return learning_rates(base, steps)
  if schedule != "cosine":
    raise ValueError(f"unknown schedule {schedule!r}")
  warmup = int(round(warmup_fraction * steps))
  rate = optax.warmup_cosine_decay_schedule(0.0, base, warmup, steps, 0.0)
  # The step's rate after it, so that the first step does not train at 0.
  return np.asarray(jax.vmap(rate)(jnp.arange(1, steps + 1)), np.float32)


def per_dispatch(rates: np.ndarray, k: int, sharding) -> list:
  """`rates` cut into dispatches of `k` steps, each chunk put on the
  devices once (a stepped schedule has only a few distinct chunks)."""
  put, out = {}, []
  for i in range(len(rates) // k):
    chunk = rates[i * k:(i + 1) * k]
    key = chunk.tobytes()
    if key not in put:
      put[key] = jax.device_put(chunk, sharding)
    out.append(put[key])
  return out


def fast_key(key: jax.Array) -> jax.Array:
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


class Lane:
  """One place where individuals train: a mesh (one device, or every local
  device data-parallel), the data set resident on it, and the programs
  that draw batch orders there."""

  def __init__(self, dataset: Dataset, mesh, cfg: StepConfig, steps: int,
               for_training: bool):
    self.mesh = mesh
    self.data = DeviceData(dataset, mesh, cfg.eval_batch_size,
                           train=for_training)
    self.replicated = NamedSharding(mesh, P())
    self.dispatch_numbers = [
        jax.device_put(np.int32(i), self.replicated)
        for i in range(steps // cfg.steps_per_dispatch)]
    self.batch_order = jax.jit(
        functools.partial(batch_order, steps=steps,
                          batch_size=cfg.batch_size,
                          rows=self.data.num_train),
        out_shardings=self.replicated)
    # XLA:CPU runs one program on every core: two individuals training at
    # once on one CPU device only contend (the slot waits here; it compiles
    # meanwhile). GPUs and TPUs queue both programs and keep busy.
    self.one_at_a_time = (threading.Lock() if jax.default_backend() == "cpu"
                          else contextlib.nullcontext())
    # XLA:CPU with several devices deadlocks at a collective's rendezvous
    # when many multi-device train chunks are in flight at once (measured:
    # a 40-individual run on 2 forced host devices aborted after 40 s
    # waiting in an all-gather; waiting for each chunk ended it). CPUs gain
    # nothing from queuing chunks; GPUs and TPUs order them per stream.
    self.block_each_dispatch = (mesh.devices.size > 1 and
                                jax.default_backend() == "cpu")

  @property
  def devices(self) -> list:
    return list(self.mesh.devices.flat)


def lane_meshes(batch_size: int, data_parallel: bool,
                devices=None) -> list[Mesh]:
  """Where slots train: one mesh per local device, or with `data_parallel`
  a single mesh over every local device dividing the batch."""
  devices = list(jax.local_devices() if devices is None else devices)
  if data_parallel:
    return [data_mesh(batch_size, devices)]
  return [Mesh(np.array([d]), ("data",)) for d in devices]


def slot_lanes(slots: int, lanes: int) -> list[int]:
  """The lane of each slot: round-robin over the lanes (several slots per
  lane where there are more slots than lanes)."""
  return [s % lanes for s in range(slots)]


class Trainer:
  """Trains individuals for `steps` SGD steps each, with weight inheritance,
  on `slots` slots spread round-robin over the lanes (`lane_meshes`);
  `train_and_validate(..., slot=s)` is safe to call from one thread per slot."""

  def __init__(self, dataset: Dataset, step_config: StepConfig,
               checkpoints: CheckpointStore, steps: int,
               weight_inheritance: bool = True,
               inheritance_mode: str = "exact",
               cache: StepCache | None = None, for_training: bool = True,
               lr_schedule=(), measure_latency: bool = False,
               slots: int = 1, meshes: list[Mesh] | None = None):
    self.dataset = dataset
    self.cfg = step_config
    self.cache = cache or StepCache(step_config)
    self.checkpoints = checkpoints
    self.steps = steps
    self.weight_inheritance = weight_inheritance
    self.inheritance_mode = inheritance_mode
    self.lr_schedule = tuple(tuple(p) for p in lr_schedule)
    self.measure_latency = measure_latency
    self._for_training = for_training
    self._meshes = list(meshes) if meshes else [self.cache.mesh]
    self.slots = slots
    self.slot_lanes = slot_lanes(slots, len(self._meshes))
    self.cache.min_networks = max(self.cache.min_networks, slots)
    self._lanes: dict[int, Lane] = {}
    self._lanes_lock = threading.Lock()
    # Set by the loop to stop trainings in flight at their next dispatch.
    self.cancel = threading.Event()
    # A list to record (slot, "compile" | "device", start, end) perf_counter
    # intervals in (benchmarks/replay_throughput.py); None: not recorded.
    self.timeline: list | None = None

  def lane(self, slot: int = 0) -> Lane:
    """Slot `slot`'s lane, its data put on its devices at first use."""
    index = self.slot_lanes[slot % self.slots]
    with self._lanes_lock:
      if index not in self._lanes:
        self._lanes[index] = Lane(self.dataset, self._meshes[index],
                                  self.cfg, steps=self.steps,
                                  for_training=self._for_training)
      return self._lanes[index]

  def _record(self, slot: int, kind: str, t0: float):
    if self.timeline is not None:
      self.timeline.append((slot, kind, t0, time.perf_counter()))

  def slot_devices(self) -> list[str]:
    """Each slot's devices, in words (the log's placement line)."""
    return [",".join(str(d) for d in self._meshes[i].devices.flat)
            for i in self.slot_lanes]

  @property
  def data(self) -> DeviceData:
    """The data on the first slot's lane (predictions at the end)."""
    return self.lane(0).data

  def _rates(self, base: float, lane: Lane) -> list:
    """Per dispatch, its steps' learning rates on the lane (a few distinct
    arrays, each put once)."""
    return per_dispatch(learning_rates(base, self.steps, self.lr_schedule),
                        self.cfg.steps_per_dispatch, lane.replicated)

  def predict(self, genome, variables: Any, split: str,
              slot: int = 0) -> np.ndarray:
    """Class probabilities of every image of `split` ('val' or 'test')."""
    lane = self.lane(slot)
    net, d = self.cache.get(genome, mesh=lane.mesh), lane.data
    labels = d.splits[split][2]
    probs = [net.predict(variables, d.eval_images, s, d.mean, d.std)
             for s in d.starts[split]]
    return np.concatenate(jax.device_get(probs))[:len(labels)]

  def latency_ms(self, genome, variables: Any, repeats: int = 5,
                 slot: int = 0) -> float:
    """Median wall time of one eval batch's predictions on the devices it
    trains on, in milliseconds (its program is compiled and warm)."""
    lane = self.lane(slot)
    net, d = self.cache.get(genome, mesh=lane.mesh), lane.data
    args = (variables, d.eval_images, d.starts["val"][0], d.mean, d.std)
    jax.block_until_ready(net.predict(*args))
    times = []
    for _ in range(repeats):
      t0 = time.perf_counter()
      jax.block_until_ready(net.predict(*args))
      times.append(time.perf_counter() - t0)
    return round(1e3 * float(np.median(times)), 4)

  def costs(self, genome, variables: Any | None = None,
            slot: int = 0) -> dict[str, float]:
    """FLOPs per image of inference and parameters (analytic, from shapes);
    with `variables` and `measure_latency`, the measured latency too."""
    net = self.cache.get(genome, mesh=self.lane(slot).mesh)
    out = {"flops": net.flops()["eval_batch"] // self.cfg.batch_size,
           "params": flops_lib.count_params(net.abstract_variables)}
    if variables is not None and self.measure_latency:
      out["latency"] = self.latency_ms(genome, variables, slot=slot)
    return out

  def accuracy(self, genome, variables: Any, split: str,
               slot: int = 0) -> float:
    labels = self.lane(slot).data.splits[split][2]
    pred = self.predict(genome, variables, split, slot).argmax(-1)
    return float(np.mean(pred == labels))

  def train_and_validate(self, key: jax.Array, individual: int, genome, *,
                         parent: tuple[int, Any] | None = None,
                         inherit: bool = True,
                         test_above: float | None = None,
                         partner: tuple[int, Any] | None = None,
                         slot: int = 0) -> Result:
    """Trains `genome` on slot `slot`'s lane (from `parent`'s weights where
    inheritance applies, averaged with `partner`'s where given), validates
    it and saves its checkpoint as `individual`. The test accuracy is
    measured only if the validation accuracy exceeds `test_above` (None:
    never). Every number depends on `key` alone, not on the slot or on what
    trains beside it."""
    seconds = dict.fromkeys(("compile", "restore", "train", "wait", "eval",
                             "save"), 0.0)
    k_init, k_data, k_aug, k_dropout = jax.random.split(key, 4)
    lane = self.lane(slot)
    d = lane.data
    net = self.cache.get(genome, count=True, mesh=lane.mesh)

    t0 = time.perf_counter()
    variables, report = self._start_variables(
        net, k_init, parent if inherit else None, partner=partner)
    state = net.new_state(variables, seed=int(
        jax.random.bits(k_dropout, dtype=jnp.uint32)))
    seconds["restore"] = time.perf_counter() - t0

    # Waits for (or does) this architecture's compilation: time on the
    # critical path, whether or not it started in the background.
    t0 = time.perf_counter()
    net.precompile(d.num_train, d.eval_images.shape[0], self.steps)
    seconds["compile"] = time.perf_counter() - t0
    self._record(slot, "compile", t0)

    t0 = time.perf_counter()
    with lane.one_at_a_time:  # the device (XLA:CPU: one program at a time)
      seconds["wait"] = time.perf_counter() - t0
      t0 = time.perf_counter()
      state, last = self._train_steps(net, lane, state, genome=genome,
                                      k_data=k_data, k_aug=k_aug,
                                      individual=individual)
      seconds["train"] = time.perf_counter() - t0
      result = self._finish(individual, genome, net, state=state, last=last,
                            report=report, test_above=test_above,
                            seconds=seconds, slot=slot)
      self._record(slot, "device", t0)
    t0 = time.perf_counter()
    self.checkpoints.wait()  # complete before the caller logs `trained`
    result.seconds["save"] = round(result.seconds["save"]
                                   + time.perf_counter() - t0, 4)
    return result

  def _start_variables(self, net, key, parent, partner):
    """Fresh weights, or `parent`'s where inheritance applies (averaged
    with `partner`'s where given), and the report of what came from where."""
    variables = net.init(key)
    report = {"inherited": [], "partial": [],
              "fresh": sorted(variables["params"])}
    if parent is None or not self.weight_inheritance:
      return variables, report
    parent_vars, _ = self.checkpoints.restore(
        parent[0], self.cache.get(parent[1]).abstract_variables)
    variables, report = inherit_weights(variables, parent_vars,
                                        self.inheritance_mode)
    if partner is not None:
      partner_vars, _ = self.checkpoints.restore(
          partner[0], self.cache.get(partner[1]).abstract_variables)
      variables, report["blended"] = blend(variables, partner_vars)
    return variables, report

  def _train_steps(self, net, lane, state, genome, k_data, k_aug,
                   individual):
    """The individual's SGD steps on `lane`: (state, the last chunk's mean
    loss and accuracy)."""
    d = lane.data
    order = lane.batch_order(jnp.uint32(jax.random.bits(k_data,
                                                        dtype=jnp.uint32)))
    k_aug = jax.device_put(fast_key(k_aug), lane.replicated)
    rates = self._rates(genome.learning_rate, lane)
    for i, number in enumerate(lane.dispatch_numbers):
      if self.cancel.is_set():
        raise Cancelled(f"training of individual {individual} stopped")
      state, metrics = net.train_dispatch(
          state, d.train_images, d.train_labels, order=order,
          dispatch=number, key=k_aug, mean=d.mean, std=d.std, lr=rates[i])
      if lane.block_each_dispatch:
        jax.block_until_ready(metrics)
    return state, jax.device_get(metrics)

  def _finish(self, individual, genome, net, state, last, report,
              test_above, seconds, slot) -> Result:
    """Checkpoint, validation (test), costs: the rest of
    `train_and_validate`."""
    d = self.lane(slot).data

    # The checkpoint is written (Orbax, asynchronously) while validation
    # and test run; `save` counts only the time spent waiting for it.
    t0 = time.perf_counter()
    variables = state.variables()
    self.checkpoints.save(individual, variables, {
        "id": individual, "genome": genome.to_json(), "steps": self.steps})
    seconds["save"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    failed = non_finite(float(last["loss"]), variables)
    val = 0.0 if failed else self.accuracy(genome, variables, "val", slot=slot)
    test = None
    if failed:
      log.warning("individual %d failed: %s (counted with validation "
                  "accuracy 0)", individual, failed)
    elif test_above is not None and val > test_above:
      test = self.accuracy(genome, variables, "test", slot=slot)
    costs = self.costs(genome, variables, slot)
    seconds["eval"] = time.perf_counter() - t0

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
                  costs=costs, failed=failed)

  def train_child(self, key: jax.Array, individual: int, genome, *,
                  parent: tuple[int, Any] | None,
                  partner: tuple[int, Any] | None, inherit: bool,
                  test_above: float | None,
                  discard: Callable[[int, Exception], None],
                  slot: int = 0) -> Result:
    """`train_and_validate`, except that a parent or partner whose checkpoint is
    missing or corrupt is handed to `discard(id, error)` and the child
    trains without it (from fresh weights where it was the parent)."""
    while True:
      try:
        return self.train_and_validate(
            key, individual, genome, parent=parent, inherit=inherit,
            partner=partner, test_above=test_above, slot=slot)
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

  # --- what the loop asks of the trainer's kept weights and threads -------
  def kept(self) -> set[int]:
    """Individuals whose checkpoints are kept."""
    return set(self.checkpoints.ids())

  def restore(self, individual: int, genome) -> Any:
    """The kept weights of `individual` (CheckpointError if unusable)."""
    variables, _ = self.checkpoints.restore(
        individual, self.cache.get(genome).abstract_variables)
    return variables

  def discard(self, individual: int) -> None:
    self.checkpoints.delete(individual)

  def remove_temporaries(self, older_than_s: float) -> None:
    """Checkpoint writes left by killed processes."""
    self.checkpoints.remove_temporaries(older_than_s)

  def compile_stats(self) -> dict[str, float]:
    return self.cache.stats()

  @property
  def lanes(self) -> int:
    """Device lanes the slots share (one per device, or one in all)."""
    return len(set(self.slot_lanes))

  @contextlib.contextmanager
  def stopping_trainings(self):
    """Trainings in flight stop at their next dispatch until this ends."""
    self.cancel.set()
    try:
      yield
    finally:
      self.cancel.clear()

  @contextlib.contextmanager
  def open_slots(self, n: int):
    """`n` slots, each a thread that trains one child at a time (the
    loop's only threads besides the store backend's claim heartbeat,
    evolution/population.py). On leaving, trainings still in flight (an error,
    a stop, a recycle) stop at their next dispatch and are dropped."""
    pool = concurrent.futures.ThreadPoolExecutor(
        n, thread_name_prefix="evojax_nas-slot")
    try:
      yield Slots(self, pool)
    finally:
      with self.stopping_trainings():
        pool.shutdown(wait=True, cancel_futures=True)

  def close(self):
    """Waits for checkpoint writes."""
    self.checkpoints.close()


@dataclasses.dataclass(frozen=True)
class Slots:
  """A trainer's slots, open: `train_child` runs on one of their threads."""
  trainer: Trainer
  _pool: concurrent.futures.ThreadPoolExecutor

  def train_child(self, *args, **kwargs) -> concurrent.futures.Future:
    """`Trainer.train_child` on a slot's thread; its result in the future."""
    return self._pool.submit(self.trainer.train_child, *args, **kwargs)


def _effective_chunk(steps: int, chunk: int) -> int:
  """The largest chunk size <= `chunk` that divides `steps`."""
  return max(d for d in range(1, min(chunk, steps) + 1) if steps % d == 0)


# Slots per GPU or TPU chosen by `slots_per_device = 0`. Not measured here
# (no accelerator was lent to this project's sessions): several programs in
# flight hide one individual's host work (dispatch, eval, checkpoint) and
# its compilation behind the others' training.
AUTO_SLOTS_PER_ACCELERATOR = 4


# XLA:CPU devices the host is split into by `cpu_devices = 0`: one slot lane
# each, so two slots' programs run side by side instead of taking turns
# (XLA:CPU runs one program at a time per device). Measured on 2 cores,
# docs/slots.md: a replayed demo's individuals per hour ~1.1x one device's
# (training ~1.3x, the cores shared by both lanes' programs).
AUTO_CPU_DEVICES = 2


def cpu_device_count(config, cores: int | None, xla_flags: str
                     ) -> int | None:
  """The XLA:CPU devices `cpu_devices` asks for (0 = auto: AUTO_CPU_DEVICES
  capped by the cores, for the in-process loop), or None: leave JAX's
  default (auto with workers, whose processes already share the cores, or
  under `train.data_parallel`, where a batch split over one host's cores
  gains nothing, or where XLA_FLAGS forces a device count)."""
  if config.cpu_devices:
    return config.cpu_devices
  if (config.num_workers or config.train.data_parallel
      or "xla_force_host_platform_device_count" in xla_flags):
    return None
  return min(AUTO_CPU_DEVICES, cores or 1)


def split_host(config) -> int | None:
  """Splits the host into `cpu_device_count` XLA:CPU devices. Takes effect
  only before JAX starts its backends; returns the count set, or None
  where it leaves JAX as it is (also where JAX has started: a notebook
  that ran JAX first; logged where the count was asked for)."""
  n = cpu_device_count(config, os.cpu_count(),
                       os.environ.get("XLA_FLAGS", ""))
  if n is None:
    return None
  try:
    jax.config.update("jax_num_cpu_devices", n)
  except RuntimeError:  # the backends exist: their devices stay
    if config.cpu_devices:
      log.warning("cpu_devices=%d not applied: JAX started before the run "
                  "(call jax.config.update('jax_num_cpu_devices', %d) "
                  "first)", n, n)
    return None
  return n


def merge_host() -> bool:
  """The host back to one XLA:CPU device after `split_host`, for a stage
  that trains one program at a time (the final retraining): on a split
  host a lone program gets a share of the cores (measured 1.1-1.25x the
  step time). JAX's backends are rebuilt, so no array or program of the
  split host may be used after; False where JAX refuses (the stage then
  runs on the split host)."""
  try:
    jax_backend.clear_backends()
    jax.config.update("jax_num_cpu_devices", 1)
  except RuntimeError as err:
    log.warning("the final stage runs on the split host: %s", err)
    return False
  log.info("one program at a time from here: the host is one CPU device "
           "again")
  return True


def slot_count(config, lanes: int, backend: str | None = None) -> int:
  """Slots in all: `slots_per_device` per lane, or (0 = auto) on CPU 2 or
  one per lane where there are more (one training while another compiles:
  the host's cores are shared by all its devices) and
  AUTO_SLOTS_PER_ACCELERATOR per GPU/TPU lane."""
  backend = backend or jax.default_backend()
  if config.slots_per_device:
    return config.slots_per_device * lanes
  return max(2, lanes) if backend == "cpu" else (
      AUTO_SLOTS_PER_ACCELERATOR * lanes)


def train_loop(config, backend: str | None = None) -> tuple[str, int]:
  """(loop, chunks per dispatch) of `train.loop` / `train.chunks_per_dispatch`
  with auto spelled out: unrolled single chunks on CPU, a scan over every
  chunk of an individual on GPU/TPU."""
  t, backend = config.train, backend or jax.default_backend()
  loop = t.loop if t.loop != "auto" else (
      "unrolled" if backend == "cpu" else "scan")
  chunks = config.steps_per_individual // _effective_chunk(
      config.steps_per_individual, t.chunk_steps)
  if t.chunks_per_dispatch:
    chunks = _effective_chunk(chunks, t.chunks_per_dispatch)
  elif loop == "unrolled":
    chunks = 1
  return loop, chunks


def program_store(config, engine: str) -> ProgramStore | None:
  """This machine's store of compiled programs (config.program_store),
  where the engine finds its programs by key before tracing ("layers",
  "split"), else None."""
  where = config.program_store
  if engine not in ("layers", "split") or not where:
    return None
  directory = default_directory() if where == "auto" else Path(where)
  try:
    return ProgramStore(directory, config.program_store_mb << 20)
  except OSError as err:
    raise ConfigError(f"program_store {str(directory)!r} cannot be used "
                      f"({err.strerror}); name a writable folder, or set "
                      "--config.program_store='' to keep none") from None


def engine_for(config, backend: str | None = None) -> str:
  """`train.engine`, "auto" resolved per backend (docs/performance.md).

  XLA:CPU: "split". Its one-step program compiles in about half the time of
  the fused chunk of two steps, at the same training speed: 1.22-1.23x the
  individuals per hour of "network" on a replayed demo (two CPU devices).
  The per-unit engine compiles less but trains its steps ~1.5x slower.
  GPUs and TPUs: "network" (one step a dispatch is not measured there,
  where loops are the usual way to cut dispatches)."""
  engine = config.train.engine
  if engine != "auto":
    return engine
  return "split" if (backend or jax.default_backend()) == "cpu" else "network"


def compiler_options_for(config, backend: str | None = None) -> tuple:
  """The XLA options of the config's programs, "auto" resolved per backend.

  `train.compile_options`: fast_compile on CPU (measured: ~0.72x the
  compile time at the same step time), XLA's default on GPU and TPU (not
  measured there). `train.conv_kernels` (XLA:CPU only): Eigen's
  convolutions where this jaxlib lets XLA choose (measured: ~0.75x the step
  time of a late demo network, ~0.64x a retrained answer's)."""
  name, kernels = compile_choices(config, backend)
  return COMPILER_OPTIONS[name] + (CONV_KERNELS[kernels] if kernels else ())


def compile_choices(config, backend: str | None = None
                    ) -> tuple[str, str | None]:
  """(`train.compile_options`, `train.conv_kernels`) with "auto" resolved
  (`compiler_options_for`); the kernels are None off XLA:CPU."""
  backend = backend or jax.default_backend()
  name = config.train.compile_options
  if name == "auto":
    name = "fast_compile" if backend == "cpu" else "default"
  kernels = config.train.conv_kernels
  if backend != "cpu":
    return name, None
  if kernels == "auto":
    kernels = "eigen" if cpu_accepts(CONV_KERNELS["eigen"]) else "xla"
  elif not cpu_accepts(CONV_KERNELS[kernels]):
    raise ConfigError(
        f"train.conv_kernels={kernels!r}: this jaxlib's XLA:CPU does not "
        f"take {CONV_KERNELS[kernels]}; use 'auto' or 'xla'")
  return name, kernels


def build(config, workdir: Path, for_training: bool = True,
          slots: int | None = None, label_smoothing: float = 0.0) -> Trainer:
  """The trainer of an experiment: its data on the devices, the compiled
  step cache (bounded by memory mappings), the checkpoint store in
  `workdir/checkpoints` and JAX's persistent compile cache; `slots`
  (default: `slot_count`) round-robin over the local devices. Not
  `for_training`: it predicts and restores only (the end of a run)."""
  split_host(config)  # before anything below starts JAX
  d, t = config.data, config.train
  loop, chunks = train_loop(config)
  dataset = data_lib.load(d.name, d.dir or None, d.cache_dir or None,
                          val_size=d.val_size, split_seed=d.split_seed,
                          train_size=d.train_size or None, url=d.url or None)
  if t.batch_size > len(dataset.train_labels):
    raise ConfigError(
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
      weight_decay=t.weight_decay, crop_padding=t.crop_padding, flip=t.flip,
      loop=loop, chunks_per_dispatch=chunks, compute_dtype=t.compute_dtype,
      engine=engine_for(config), label_smoothing=label_smoothing,
      compiler_options=compiler_options_for(config))
  if config.persistent_compile_cache:
    persistent_cache.enable(workdir / COMPILE_CACHE,
                            config.persistent_cache_min_compile_s)
  max_maps = memory.max_mappings()
  meshes = lane_meshes(t.batch_size, t.data_parallel)
  cache = StepCache(step_config, mesh=meshes[0],
                    max_networks=config.compiled_networks_in_memory,
                    max_mappings=max_maps and max(1, int(
                        config.resources.cache_map_fraction * max_maps)),
                    store=program_store(config, step_config.engine))
  return Trainer(dataset, step_config, CheckpointStore(workdir / CHECKPOINTS),
                 steps=config.steps_per_individual,
                 weight_inheritance=config.weight_inheritance,
                 inheritance_mode=config.inheritance_mode, cache=cache,
                 for_training=for_training,
                 lr_schedule=t.lr_schedule,
                 measure_latency="latency" in tuple(config.objectives),
                 slots=slots or slot_count(config, len(meshes)),
                 meshes=meshes)
