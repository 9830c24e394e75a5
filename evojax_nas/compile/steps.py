"""Jitted train and eval steps, compiled once per architecture signature.

A `StepCache` maps `DNA.signature()` to a `CompiledNetwork` holding its
chunked train step (batch gather and augmentation included) and its predict
step; fresh weights are drawn on the host, nothing to compile.
The learning rate is a traced argument, so IDENTITY and ALTER-LEARNING-RATE
children (same signature) never recompile. Steps are compiled ahead of time
from abstract shapes (`lower(ShapeDtypeStruct...).compile()`), which lets the
cache count and time every compilation and compile a child's programs on its
slot's thread while other slots train (evolution/loop.py).

Data parallelism: arrays live on a 1-D device mesh ("data"); the dataset and
the train state are replicated, each batch is split across the mesh, and XLA
inserts the gradient all-reduce (jit with shardings; no pmap).

A train *chunk* is `chunk_steps` SGD steps unrolled in one program; a
*dispatch* runs `chunks_per_dispatch` chunks, unrolled (`loop="unrolled"`:
XLA:CPU runs `lax.scan` over conv steps ~10x slower, so on CPU one chunk of
2-4 steps per dispatch) or in a `lax.scan` (`loop="scan"`: on GPUs and TPUs
hundreds or thousands of steps per host dispatch). Either way the program
reads its rows from the individual's batch order, drawn once on the device
(`batch_order`), and chunk c of the augmentation stream is the same, so the
two loops compute the same steps.
"""

from __future__ import annotations

import collections
import dataclasses
import functools
import gc
import threading
import time
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
from jax.sharding import Mesh, NamedSharding, PartitionSpec as P

from evojax_nas.compile import augment as augment_lib
from evojax_nas.compile import flops as flops_lib
from evojax_nas.compile import memory
from evojax_nas.compile import persistent_cache
from evojax_nas.compile.layers import (LayeredNetwork, SharedPrograms,
                                       mean_metrics, prepare_program)
from evojax_nas.compile.modules import build_module
from evojax_nas.compile import relocate as relocate_lib
from evojax_nas.compile.network import sample_variables
from evojax_nas.genomes.dna import DNA


@dataclasses.dataclass(frozen=True)
class StepConfig:
  """Everything besides the architecture that shapes the compiled programs."""
  num_classes: int
  image_shape: tuple[int, int, int] = (32, 32, 3)
  batch_size: int = 50
  chunk_steps: int = 8
  eval_batch_size: int = 500
  momentum: float = 0.9
  weight_decay: float = 1e-4
  crop_padding: int = 4
  flip: bool = True
  loop: str = "unrolled"             # "unrolled" | "scan" (see above)
  chunks_per_dispatch: int = 1
  compute_dtype: str = "float32"     # or "bfloat16" (weights stay float32)
  # "network": one compiled train program per architecture, batch
  # preparation inside it; "split": one compiled SGD step per architecture,
  # called once a step, preparation a program shared by every architecture
  # (one device, unrolled single chunks; else as "network"); "layers": DNA
  # networks run per-unit programs shared across architectures
  # (compile/layers.py; one device, unrolled single chunks).
  engine: str = "network"
  label_smoothing: float = 0.0       # retraining's option (0: the papers')
  # XLA options of every program ((name, value), ...; COMPILER_OPTIONS).
  compiler_options: tuple = ()

  def compile(self, lowered):
    """`lowered` compiled with this config's XLA options (or loaded from
    the persistent cache: then marked as such, see compile/relocate.py)."""
    hits = persistent_cache.thread_hits()
    compiled = lowered.compile(compiler_options=dict(self.compiler_options)
                               or None)
    if persistent_cache.thread_hits() > hits:
      relocate_lib.from_disk(compiled)
    return compiled

  @property
  def steps_per_dispatch(self) -> int:
    return self.chunk_steps * self.chunks_per_dispatch


COMPUTE_DTYPES = {"float32": jnp.float32, "bfloat16": jnp.bfloat16}

# XLA options per program, by `train.compile_options` name. "fast_compile"
# (XLA:CPU): LLVM at optimisation level 2 instead of 3 and the loop emitters
# instead of the MLIR fusion emitters; a late demo network compiles in
# ~0.72x the time at the same step time, weights equal to float rounding
# (benchmarks/compile_options.py, docs/performance.md).
COMPILER_OPTIONS = {
    "default": (),
    "fast_compile": (("xla_backend_optimization_level", 2),
                     ("xla_cpu_use_fusion_emitters", False)),
}

# XLA:CPU's kernels for convolutions, by `train.conv_kernels` name. XLA
# (jaxlib 0.10) runs them through YNNPACK, one thread each, whose filter
# gradient takes ~2x Eigen's even on one core; "eigen" leaves YNNPACK the
# reductions only: a late demo network steps in ~0.75x the time on 2 cores
# (~0.85x on one), a retrained answer in ~0.64x, weights equal to float
# rounding (benchmarks/compile_options.py, docs/performance.md).
CONV_KERNELS = {
    "xla": (),
    "eigen": (("xla_cpu_experimental_ynn_fusion_type",
               "LIBRARY_FUSION_TYPE_REDUCE"),),
}


@functools.cache
def cpu_accepts(options: tuple) -> bool:
  """Whether this jaxlib's XLA:CPU takes `options` (an older one may not
  know a flag: compiling with it would fail)."""
  lowered = jax.jit(lambda x: x + 1).lower(
      jax.ShapeDtypeStruct((1,), jnp.float32))
  try:
    lowered.compile(compiler_options=dict(options))
  except RuntimeError:  # JaxRuntimeError INVALID_ARGUMENT: unknown flag
    return False        # or value ("No such compile option: ...")
  return True


def batch_order(seed: jax.Array, steps: int, batch_size: int,
                rows: int) -> jax.Array:
  """The rows of each of `steps` batches (int32 [steps, batch_size]):
  shuffled epochs of `rows` training images, each permutation drawn from
  the uint32 `seed` on the device (no host transfer per step)."""
  key = jax.random.key(seed)
  epochs = -(-steps * batch_size // rows)
  perms = jax.vmap(lambda e: jax.random.permutation(
      jax.random.fold_in(key, e), rows))(jnp.arange(epochs))
  return perms.reshape(-1)[:steps * batch_size].reshape(
      steps, batch_size).astype(jnp.int32)


@flax.struct.dataclass
class TrainState:
  step: jnp.ndarray
  params: Any
  batch_stats: Any
  opt_state: Any
  rng: jax.Array  # dropout stream (networks without dropout ignore it)

  def variables(self):
    return {"params": self.params, "batch_stats": self.batch_stats}


def data_mesh(batch_size: int, devices=None) -> Mesh:
  """A 1-D mesh over as many local devices as evenly divide the batch."""
  devices = list(jax.local_devices() if devices is None else devices)
  n = max(d for d in range(1, len(devices) + 1) if batch_size % d == 0)
  return Mesh(np.array(devices[:n]), ("data",))


def _kernel_mask(params):
  """Weight decay on conv and dense kernels only, not on biases or BN."""
  return jax.tree_util.tree_map_with_path(
      lambda path, _: getattr(path[-1], "key", None) == "kernel", params)


class CompiledNetwork:
  """One architecture's model and its compiled programs."""

  def __init__(self, signature: tuple, model, cfg: StepConfig, mesh: Mesh,
               cache: "StepCache"):
    self.signature = signature
    self.cfg = cfg
    self.model = model
    self.tx = optax.chain(
        optax.add_decayed_weights(cfg.weight_decay, mask=_kernel_mask),
        optax.trace(decay=cfg.momentum))
    self._mesh = mesh
    # Its one device (None: several), whose programs a twin on another
    # device can load instead of compiling (StepCache.twin).
    self.device = mesh.devices.flat[0] if mesh.devices.size == 1 else None
    self._cache = cache
    self._replicated = NamedSharding(mesh, P())
    self._batch_sharding = NamedSharding(mesh, P("data"))
    self._compiled: dict[str, Any] = {}
    self._lock = threading.Lock()
    self._flops = None
    # One SGD step as its own jit: the unrolled chunk calls it k times,
    # traced once (same shapes), and XLA inlines the calls, so the compiled
    # program is the same; the FLOP count reads the same trace.
    self._step = jax.jit(self._train_step)
    dummy = jax.ShapeDtypeStruct((1,) + cfg.image_shape, jnp.float32)
    self.abstract_variables = jax.eval_shape(
        self._init_variables, jax.ShapeDtypeStruct((), jax.random.key(0).dtype),
        dummy)

  # --- pure functions ----------------------------------------------------------
  def _init_variables(self, key, images):
    variables = self.model.init(key, images, train=False)
    return {"params": variables["params"],
            "batch_stats": variables.get("batch_stats", {})}

  def _fresh_state(self, variables, rng=None) -> TrainState:
    return TrainState(step=jnp.zeros((), jnp.int32),
                      params=variables["params"],
                      batch_stats=variables["batch_stats"],
                      opt_state=self.tx.init(variables["params"]),
                      rng=jax.random.key(0, impl="rbg") if rng is None else rng)

  def new_state(self, variables, seed: int = 0) -> TrainState:
    """A replicated train state with fresh momentum around `variables`;
    `seed` starts its dropout stream."""
    rng = jax.random.key(seed, impl="rbg")
    return jax.device_put(self._fresh_state(variables, rng), self._replicated)

  def _train_step(self, state: TrainState, x, y, lr):
    """One SGD step on a prepared (augmented, standardised) batch."""
    x = jax.lax.with_sharding_constraint(x, self._batch_sharding)

    def loss_fn(params):
      logits, updates = self.model.apply(
          {"params": params, "batch_stats": state.batch_stats}, x,
          train=True, mutable=["batch_stats"],
          rngs={"dropout": jax.random.fold_in(state.rng, state.step)})
      logits = logits.astype(jnp.float32)
      if self.cfg.label_smoothing:
        targets = optax.smooth_labels(
            jax.nn.one_hot(y, logits.shape[-1]), self.cfg.label_smoothing)
        loss = optax.softmax_cross_entropy(logits, targets).mean()
      else:
        loss = optax.softmax_cross_entropy_with_integer_labels(logits,
                                                               y).mean()
      return loss, (logits, updates.get("batch_stats", {}))

    (loss, (logits, batch_stats)), grads = jax.value_and_grad(
        loss_fn, has_aux=True)(state.params)
    updates, opt_state = self.tx.update(grads, state.opt_state, state.params)
    params = jax.tree.map(lambda p, u: p - lr * u, state.params, updates)
    accuracy = jnp.mean(jnp.argmax(logits, -1) == y)
    new_state = state.replace(step=state.step + 1, params=params,
                              batch_stats=batch_stats, opt_state=opt_state)
    return new_state, loss, accuracy

  def prepare(self, images, labels, idx, key, chunk, mean, std):
    """Gathers, standardises and augments the `chunk_steps` batches of rows
    `idx` (k, B): chunk number `chunk` of the augmentation stream `key`."""
    x = jnp.take(images, idx, axis=0)            # (k, B, H, W, C) uint8
    k, b = idx.shape
    x = augment_lib.standardize(x.reshape((k * b,) + x.shape[2:]), mean, std)
    x = augment_lib.augment(jax.random.fold_in(key, chunk), x,
                            self.cfg.crop_padding, self.cfg.flip)
    return x.reshape((k, b) + x.shape[1:]), jnp.take(labels, idx, axis=0)

  def _train_chunk(self, state, images, labels, idx, key, chunk, mean, std,
                   lr):
    """`chunk_steps` SGD steps, unrolled, on freshly augmented batches.

    Gather and augmentation live in the same program as the steps (the
    "network" engine, and every scan loop): one dispatch per chunk. The
    optimization barrier materialises the augmented batches first: fused
    into the first convolution's input they made it a few % slower.
    """
    xs, ys = jax.lax.optimization_barrier(
        self.prepare(images, labels, idx, key, chunk, mean, std))
    return self._train_steps(state, xs, ys, lr)

  def _train_steps(self, state, xs, ys, lr):
    """The chunk's SGD steps on prepared batches xs (k, B, H, W, C)."""
    losses, accs = [], []
    for i in range(xs.shape[0]):
      state, loss, acc = self._step(state, xs[i], ys[i], lr[i])
      losses.append(loss)
      accs.append(acc)
    return state, {"loss": jnp.mean(jnp.stack(losses)),
                   "accuracy": jnp.mean(jnp.stack(accs))}

  def _train_dispatch(self, state, images, labels, order, dispatch, key,
                      mean, std, lr):
    """Dispatch number `dispatch`: its `chunks_per_dispatch` chunks, rows
    from `order` (steps, batch), chunk c augmented with stream c; the last
    chunk's mean loss and accuracy."""
    cfg = self.cfg
    m, k = cfg.chunks_per_dispatch, cfg.chunk_steps
    idx = jax.lax.dynamic_slice_in_dim(order, dispatch * (m * k), m * k)
    idx = jax.lax.with_sharding_constraint(
        idx.reshape(m, k, -1), NamedSharding(self._mesh, P(None, None, "data")))
    lr = lr.reshape(m, k)
    chunk = lambda s, j: self._train_chunk(s, images, labels, idx[j], key,
                                           dispatch * m + j, mean, std, lr[j])
    if cfg.loop == "unrolled":
      metrics = None
      for j in range(m):
        state, metrics = chunk(state, j)
      return state, metrics
    state, metrics = jax.lax.scan(lambda s, j: chunk(s, j), state,
                                  jnp.arange(m))
    return state, jax.tree.map(lambda a: a[-1], metrics)

  def _predict(self, variables, images, start, mean, std):
    x = jax.lax.dynamic_slice_in_dim(images, start, self.cfg.eval_batch_size)
    x = augment_lib.standardize(x, mean, std)
    x = jax.lax.with_sharding_constraint(x, self._batch_sharding)
    logits = self.model.apply(variables, x, train=False)
    return jax.nn.softmax(logits.astype(jnp.float32))

  # --- compiled entry points -----------------------------------------------------
  def _get(self, name: str, fn, abstract_args, donate=()):
    """The compiled program `name`; `abstract_args()` (shapes, shardings)
    is only called to compile it, so a hit costs one dict lookup."""
    compiled = self._compiled.get(name)
    if compiled is not None:
      return compiled
    twin = self._cache.twin(self)  # on another device (looked up unlocked)
    seconds = None
    with self._lock:
      compiled = self._compiled.get(name)
      if compiled is None:
        t0 = time.perf_counter()
        compiled, kind = self._find(name, twin)
        if compiled is None:
          compiled, kind = self.cfg.compile(jax.jit(
              fn, donate_argnums=donate).lower(*abstract_args())), "compiled"
          self._store_program(name, compiled)
        self._compiled[name] = compiled
        seconds = time.perf_counter() - t0
    if seconds is not None:  # told after the lock: no lock inside another
      self._cache.compiled(seconds, kind)
    return compiled

  def _store_key(self, name: str) -> tuple:
    return ("network", type(self.model).__qualname__, self.signature, name)

  def _find(self, name: str, twin):
    """(program `name`, how) without compiling: relocated from `twin`'s,
    or loaded from the machine's program store; (None, None) if neither
    has it."""
    mine = twin._compiled.get(name) if twin else None
    return relocate_lib.find(mine, twin and twin.device, self.device,
                             self._cache.store, (self._store_key(name),
                                                 self.cfg))

  def _store_program(self, name: str, compiled) -> None:
    relocate_lib.keep(self._cache.store, (self._store_key(name), self.cfg),
                      compiled, self.device)

  def init(self, key: jax.Array):
    """Fresh He-initialised variables (host arrays; nothing to compile)."""
    rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
    return sample_variables(self.abstract_variables, rng)

  def _abstract(self, tree, sharding):
    return jax.tree.map(
        lambda a: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=sharding),
        tree)

  def _abstract_train_args(self, train_rows: int, order_rows: int):
    cfg, rep = self.cfg, self._replicated
    state = self._abstract(jax.eval_shape(self._fresh_state,
                                          self.abstract_variables), rep)
    scalar = lambda dtype: jax.ShapeDtypeStruct((), dtype, sharding=rep)
    vec = jax.ShapeDtypeStruct((cfg.image_shape[-1],), jnp.float32,
                               sharding=rep)
    images = jax.ShapeDtypeStruct((train_rows,) + cfg.image_shape, jnp.uint8,
                                  sharding=rep)
    labels = jax.ShapeDtypeStruct((train_rows,), jnp.int32, sharding=rep)
    order = jax.ShapeDtypeStruct((order_rows, cfg.batch_size), jnp.int32,
                                 sharding=rep)
    key = jax.ShapeDtypeStruct((), jax.random.key(0, impl="rbg").dtype,
                               sharding=rep)
    lr = jax.ShapeDtypeStruct((cfg.steps_per_dispatch,), jnp.float32,
                              sharding=rep)
    return (state, images, labels, order, scalar(jnp.int32), key, vec, vec,
            lr)

  def _abstract_predict_args(self, eval_rows: int):
    cfg, rep = self.cfg, self._replicated
    vec = jax.ShapeDtypeStruct((cfg.image_shape[-1],), jnp.float32,
                               sharding=rep)
    return (self._abstract(self.abstract_variables, rep),
            jax.ShapeDtypeStruct((eval_rows,) + cfg.image_shape, jnp.uint8,
                                 sharding=rep),
            jax.ShapeDtypeStruct((), jnp.int32, sharding=rep), vec, vec)

  @property
  def shares_preparation(self) -> bool:
    """Whether batches are prepared by a program shared by every
    architecture and the architecture compiles one SGD step, called
    `chunk_steps` times a dispatch (the "split" engine on one device,
    unrolled single chunks): a late demo network's step compiles in about
    half the time of its fused chunk of two steps with their preparation
    (docs/performance.md)."""
    c = self.cfg
    return (c.engine == "split" and c.loop == "unrolled"
            and c.chunks_per_dispatch == 1 and self._mesh.devices.size == 1)

  def _step_program(self):
    cfg, rep = self.cfg, self._replicated

    def args():
      state = self._abstract(jax.eval_shape(self._fresh_state,
                                            self.abstract_variables), rep)
      sds = lambda shape, dtype: jax.ShapeDtypeStruct(shape, dtype,
                                                      sharding=rep)
      return (state, sds((cfg.batch_size,) + cfg.image_shape, jnp.float32),
              sds((cfg.batch_size,), jnp.int32), sds((), jnp.float32))
    return self._get("step", self._step, args, donate=(0,))

  def _split_dispatch(self, state, images, labels, order, dispatch, key,
                      mean, std, lr):
    """The shared preparation, then the one-step program once a step."""
    xs, ys, lrs = prepare_program(self._cache.shared, self, images.shape[0],
                                  order.shape[0], self._replicated)(
                                      images, labels, order, dispatch, key,
                                      mean, std, lr)
    step = self._step_program()
    losses, accs = [], []
    for x, y, r in zip(xs, ys, lrs):
      state, loss, acc = step(state, x, y, r)
      losses.append(loss)
      accs.append(acc)
    return state, mean_metrics(losses, accs)

  def train_dispatch(self, state, images, labels, order, dispatch, key, mean,
                     std, lr):
    """`steps_per_dispatch` SGD steps from `state` (from `new_state`,
    donated): dispatch number `dispatch` (int32) of the batch order `order`
    (steps, batch; see `batch_order`) over the device-resident
    `images`/`labels`, augmented from the RBG key `key`; `mean`/`std`
    standardise, `lr` (float32, steps_per_dispatch) holds each step's
    learning rate (all replicated)."""
    if self.shares_preparation:
      return self._split_dispatch(state, images, labels, order, dispatch,
                                  key, mean, std, lr)
    rows = (images.shape[0], order.shape[0])
    return self._get(self._train_name(*rows), self._train_dispatch,
                     lambda: self._abstract_train_args(*rows),
                     donate=(0,))(state, images, labels, order, dispatch, key,
                                  mean, std, lr)

  def _train_name(self, train_rows: int, order_rows: int) -> str:
    return f"train/{train_rows}/{order_rows}"

  def predict(self, variables, images, start, mean, std):
    """Softmax of the eval batch at row `start` of `images`."""
    args = jax.device_put((variables, images, start, mean, std),
                          self._replicated)
    return self._get(f"predict/{images.shape[0]}", self._predict,
                     lambda: self._abstract_predict_args(images.shape[0]))(
                         *args)

  def precompile(self, train_rows: int, eval_rows: int,
                 order_rows: int | None = None):
    """Compiles the train dispatch (for a training split of `train_rows`
    images and a batch order of `order_rows` steps, default one dispatch's)
    and the predict step (for `eval_rows` eval images) from shapes alone,
    and counts the FLOPs; safe on any thread."""
    order_rows = order_rows or self.cfg.steps_per_dispatch
    if self.shares_preparation:
      prepare_program(self._cache.shared, self, train_rows, order_rows,
                      self._replicated)
      self._step_program()
    else:
      self._get(self._train_name(train_rows, order_rows),
                self._train_dispatch,
                lambda: self._abstract_train_args(train_rows, order_rows),
                donate=(0,))
    self._get(f"predict/{eval_rows}", self._predict,
              lambda: self._abstract_predict_args(eval_rows))
    self.flops()

  # --- cost model -------------------------------------------------------------
  def flops(self) -> dict[str, int]:
    """Ft (one train step) and Fv (one eval batch of `batch_size`)."""
    with self._lock:
      if self._flops is None:
        self._flops = self._count_flops()
      return self._flops

  def _count_flops(self) -> dict[str, int]:
    cfg, f32 = self.cfg, jnp.float32
    b = cfg.batch_size
    abstract_state = jax.eval_shape(self._fresh_state, self.abstract_variables)
    img = jax.ShapeDtypeStruct((b,) + cfg.image_shape, jnp.uint8)
    x = jax.ShapeDtypeStruct((b,) + cfg.image_shape, f32)
    lab = jax.ShapeDtypeStruct((b,), jnp.int32)
    vec = jax.ShapeDtypeStruct((cfg.image_shape[-1],), f32)
    scalar = jax.ShapeDtypeStruct((), f32)
    # On the train program's devices, so that the step's trace is the one
    # the program already made (jit's cache), not a second one.
    ft = flops_lib.count_flops(self._step, *self._abstract(
        (abstract_state, x, lab, scalar), self._replicated))
    fwd = lambda v, x, m, s: self.model.apply(
        v, augment_lib.standardize(x, m, s), train=False)
    fv = flops_lib.count_flops(fwd, self.abstract_variables, img, vec, vec)
    return {"train_step": int(ft), "eval_batch": int(fv)}


class StepCache:
  """Cache of `CompiledNetwork`s keyed by architecture signature and the
  devices they run on (`mesh`: a slot's device, or the data-parallel mesh),
  with hit/compile statistics."""

  # Never evicted by the mapping bound: the networks in flight (the loop
  # raises it to its number of slots).
  MIN_NETWORKS = 2

  def __init__(self, cfg: StepConfig, mesh: Mesh | None = None,
               max_networks: int = 64, max_mappings: int | None = None,
               store=None):
    self.cfg = cfg
    self.mesh = mesh if mesh is not None else data_mesh(cfg.batch_size)
    # Least recently used first. Bounded by count and, where given, by this
    # process's memory mappings (see compile/memory.py): every XLA:CPU
    # executable holds mappings for its kernels, ~1,400 for a deep demo net,
    # so 64 networks alone can pass vm.max_map_count (65530), after which
    # LLVM cannot allocate code memory. An evicted architecture that comes
    # back recompiles (or loads from the persistent cache).
    self._networks: collections.OrderedDict[tuple, CompiledNetwork] = (
        collections.OrderedDict())
    self.min_networks = self.MIN_NETWORKS
    self.max_networks = max_networks
    self.max_mappings = max_mappings
    self.evictions = 0
    self._lock = threading.Lock()
    self.hits = 0
    self.misses = 0
    self.compiles = 0
    self.relocations = 0
    self.loads = 0
    self.compile_seconds = 0.0
    self._used: set[tuple] = set()
    self._persistent_start = persistent_cache.counts()
    # This machine's program store (compile/program_store.py) or None:
    # the single-device programs of every engine that has one.
    self.store = store
    # The per-unit programs of the "layers" engine, shared by every network
    # (and, through `store`, compile/program_store.py, by every run).
    self.shared = SharedPrograms(cfg, self.compiled, store=store)

  def _layered(self, genome, mesh: Mesh) -> bool:
    """Whether `genome` trains through per-unit programs on `mesh`."""
    c = self.cfg
    return (c.engine == "layers" and isinstance(genome, DNA)
            and mesh.devices.size == 1 and c.loop == "unrolled"
            and c.chunks_per_dispatch == 1)

  def get(self, genome, count: bool = False,
          mesh: Mesh | None = None) -> CompiledNetwork:
    """The network of `genome`'s architecture (a DNA, a Genetic CNN string
    or a NAS-Bench-201 cell; see `modules.build_module`) on `mesh` (default:
    the cache's). `count=True` marks the lookup of an individual about to
    train: a hit if an earlier individual already used this architecture
    (a background compile alone does not count)."""
    mesh = self.mesh if mesh is None else mesh
    sig = genome.signature()
    key = (sig, tuple(d.id for d in mesh.devices.flat))
    with self._lock:
      net = self._networks.get(key)
    built = None
    if net is None:  # built outside the lock (cheap: nothing compiles yet)
      built = CompiledNetwork(sig, build_module(
          genome, self.cfg.num_classes,
          COMPUTE_DTYPES[self.cfg.compute_dtype]), self.cfg, mesh, self)
      if self._layered(genome, mesh):
        built = LayeredNetwork(built, self.shared, NamedSharding(mesh, P()))
    with self._lock:
      if built is not None:
        net = self._networks.setdefault(key, built)  # a racing twin: theirs
        while len(self._networks) > self.max_networks:
          self._networks.popitem(last=False)
          self.evictions += 1
      if key in self._networks:  # (a clear() meanwhile: not put back)
        self._networks.move_to_end(key)
      if count:
        if sig in self._used:
          self.hits += 1
        else:
          self.misses += 1
          self._used.add(sig)
      return net

  def bound_mappings(self):
    """Evicts least recently used networks while this process holds more
    than `max_mappings` memory mappings (keeping the `min_networks` most
    recent); called after every compilation."""
    if not self.max_mappings:
      return
    with self._lock:
      while (len(self._networks) > self.min_networks
             and (memory.mappings() or 0) > self.max_mappings):
        self._networks.popitem(last=False)
        self.evictions += 1
        gc.collect()  # an executable's mappings go when it is freed
    if len(self.shared) and (memory.mappings() or 0) > self.max_mappings:
      dropped = self.shared.drop_oldest()  # its own lock, not ours
      if dropped:
        with self._lock:
          self.evictions += dropped
        gc.collect()

  def clear(self):
    """Drops every compiled network (their memory goes once unreferenced)."""
    with self._lock:
      self.evictions += len(self._networks)
      self._networks.clear()
    gc.collect()

  def compiled(self, seconds: float, kind: str = "compiled"):
    """A network (or a shared unit program) spent `seconds` getting a
    program: "compiled", "relocated" (loaded from another device's) or
    "loaded" (from the machine's program store); counted, then mappings
    bounded."""
    with self._lock:
      if kind == "relocated":
        self.relocations += 1
      elif kind == "loaded":
        self.loads += 1
      else:
        self.compiles += 1
      self.compile_seconds += seconds
    self.bound_mappings()

  def twin(self, net: "CompiledNetwork") -> "CompiledNetwork | None":
    """The most recent network of `net`'s architecture on another single
    device (its programs can be relocated to `net`'s), or None."""
    if net.device is None:
      return None
    with self._lock:
      for (sig, _), other in reversed(self._networks.items()):
        if (sig == net.signature and isinstance(other, CompiledNetwork)
            and other.device not in (None, net.device)):
          return other
    return None

  def stats(self) -> dict[str, float]:
    """In-process hits/misses by individual, programs compiled (or loaded
    from the persistent cache: `persistent_hits` of them) and their
    seconds."""
    lookups = self.hits + self.misses
    now = persistent_cache.counts()
    return {"hits": self.hits, "misses": self.misses,
            "hit_rate": self.hits / lookups if lookups else 0.0,
            "compiles": self.compiles,
            "relocated": self.relocations,
            "stored_loads": self.loads,
            "compile_seconds": round(self.compile_seconds, 3),
            "persistent_hits": now["hits"] - self._persistent_start["hits"],
            "evictions": self.evictions,
            "shared_programs": {"hits": self.shared.hits,
                               "compiled": self.shared.misses}}
