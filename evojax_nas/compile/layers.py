"""Programs per layer, not per network: a DNA network trained by running
each vertex's compiled forward and backward programs in order, as eager
frameworks do, so a new architecture compiles only the layers no earlier
architecture had.

Evolution trains many architectures briefly; compiling each whole network
(its train chunk and its predict program) cost as much CPU as training them
(docs/performance.md, "Compiling architectures"). Here a *unit* is one vertex of the DNA:
its backbone edge (a convolution or an identity), the skip inputs summed
into it, and its activation (batch norm + ReLU, or none). Its programs are
keyed by what shapes them — the edge's kernel, stride and channels, the
activation, the input shapes — never by the ids of the genome, so a child
reuses every program of its parent but those of the vertices its mutation
changed (and of those whose input shapes changed with them).

Per SGD step: the forward programs of the units in order (each returns its
pre-activation sum `z`, its output and its new batch statistics), the head
(global pooling, the classifier, the softmax cross-entropy, its gradient and
update, in one program), then the backward programs in reverse order: each
takes its unit's input, `z` and the gradient of its output, returns the
gradients of its inputs and applies SGD with momentum and weight decay to
its own parameters (the optimizer of `steps.CompiledNetwork`: decay on
kernels, trace, then `p - lr * t`). The convolution's own forward is not
recomputed in its backward program (it is linear: XLA drops its unused
forward), only the cheap batch norm (its moments and output passed from
the forward instead measured no faster). An identity vertex with nothing
summed in and no activation (the input, mostly) runs no program. Every
gradient is taken at the step's old parameters, as the whole-network
program does, so the two agree to float rounding
(tests/test_layers_engine.py states how closely).

Augmentation and batch gathering are the network path's own `_prepare`
(one program for every architecture), so both paths train on the same
batches. Validation runs the units' inference programs (running averages).
"""

from __future__ import annotations

import collections
import dataclasses
import threading
import time
from typing import Any

import flax
import flax.linen as nn
import jax
import jax.numpy as jnp
import optax

from evojax_nas.compile import augment as augment_lib
from evojax_nas.compile.network import HE_NORMAL, LECUN_NORMAL, match_shape
from evojax_nas.compile import relocate as relocate_lib


@dataclasses.dataclass(frozen=True)
class Unit:
  """One vertex of a DNA signature, as the programs see it."""
  vertex: int               # its id in the genome (parameter names)
  edge: int | None          # its backbone edge's id (None: the input)
  src: int | None           # the vertex the backbone edge reads
  conv: tuple | None        # (kernel, stride, channels) or None: identity
  skips: tuple[int, ...]    # vertices summed in through skip edges
  bn: bool                  # batch norm + ReLU after the sum


def units_of(signature: tuple) -> list[Unit]:
  """The units of a DNA signature in backbone order."""
  vertices, edges = signature
  backbone = {e[2]: e for e in edges if not e[4]}
  skips: dict[int, list[int]] = {}
  for e in edges:
    if e[4]:
      skips.setdefault(e[2], []).append(e[1])
  out = []
  for i, (vid, activation) in enumerate(vertices):
    e = backbone.get(vid) if i else None
    out.append(Unit(vertex=vid, edge=e[0] if e else None,
                    src=e[1] if e else None,
                    conv=(e[5], e[6], e[7]) if e and e[3] == "conv" else None,
                    skips=tuple(skips.get(vid, ())) if i else (),
                    bn=activation == "bn_relu"))
  return out


@flax.struct.dataclass
class LayeredState:
  """The train state of a layered network: variables and the momentum
  trace (the tree of params), the step count."""
  step: jnp.ndarray
  params: Any
  batch_stats: Any
  trace: Any

  def variables(self):
    return {"params": self.params, "batch_stats": self.batch_stats}


def _sgd(p, g, t, lr, wd, momentum, decay: bool):
  """optax.add_decayed_weights (kernels) + optax.trace, then p - lr * t."""
  if decay:
    g = g + wd * p
  t = g + momentum * t
  return p - lr * t, t


class UnitPrograms:
  """The compiled programs of one unit shape (see `SharedPrograms.get`)."""

  def __init__(self, conv, bn: bool, dtype, wd: float, momentum: float):
    self.conv = (nn.Conv(conv[2], conv[0], strides=conv[1], padding="SAME",
                         kernel_init=HE_NORMAL, dtype=dtype)
                 if conv else None)
    self.bn = bn
    self.norm = nn.BatchNorm(momentum=0.9, dtype=dtype)
    self.wd, self.momentum = wd, momentum

  def linear(self, cp, h, skips):
    """The edge and the skip sum: the unit's pre-activation `z`."""
    z = self.conv.apply({"params": cp}, h) if self.conv else h
    for s in skips:
      z = z + match_shape(s, z.shape)
    return z

  def activation(self, bp, bs, z, train: bool):
    if not self.bn:
      return z, bs
    if train:
      y, upd = self.norm.apply({"params": bp, "batch_stats": bs}, z,
                               use_running_average=False,
                               mutable=["batch_stats"])
      return nn.relu(y), upd["batch_stats"]
    y = self.norm.apply({"params": bp, "batch_stats": bs}, z,
                        use_running_average=True)
    return nn.relu(y), bs

  def forward(self, cp, bp, bs, h, skips):
    """(z, y, new batch stats) in training mode."""
    z = self.linear(cp, h, skips)
    y, bs = self.activation(bp, bs, z, True)
    return z, y, bs

  def infer(self, cp, bp, bs, h, skips):
    return self.activation(bp, bs, self.linear(cp, h, skips), False)[0]

  def backward(self, cp, bp, bs, tc, tb, h, skips, z, dy, lr, need_dh):
    """Gradients of the unit's inputs at its old parameters, and its
    parameters and traces after one SGD step."""
    if self.bn:
      _, act_vjp = jax.vjp(lambda p, z: self.activation(p, bs, z, True)[0],
                           bp, z)
      db, dz = act_vjp(dy.astype(z.dtype))
      bp, tb = _update(bp, db, tb, lr, self, decay=False)
    else:
      dz = dy.astype(z.dtype)
    if need_dh:
      _, lin_vjp = jax.vjp(self.linear, cp, h, skips)
      dc, dh, dskips = lin_vjp(dz)
    else:  # the input image: no gradient (as autodiff would not take one)
      _, lin_vjp = jax.vjp(lambda cp, skips: self.linear(cp, h, skips), cp,
                           skips)
      (dc, dskips), dh = lin_vjp(dz), None
    if self.conv:
      cp, tc = _update(cp, dc, tc, lr, self, decay=True)
    return cp, bp, tc, tb, dh, dskips


def _update(params, grads, trace, lr, unit, decay: bool):
  """One SGD step of a parameter dict; decay on its "kernel" only."""
  new_p, new_t = {}, {}
  for k in params:
    new_p[k], new_t[k] = _sgd(params[k], grads[k], trace[k], lr, unit.wd,
                              unit.momentum, decay and k == "kernel")
  return new_p, new_t


def head_step(dense, wd, momentum, p, t, h, y, lr):
  """Global pooling, the classifier, the loss and its gradient, and the
  classifier's SGD step: (p, t, dh, loss, accuracy)."""
  def loss_fn(p, h):
    logits = dense.apply({"params": p}, jnp.mean(h, axis=(1, 2)))
    logits = logits.astype(jnp.float32)
    return optax.softmax_cross_entropy_with_integer_labels(
        logits, y).mean(), logits
  (loss, logits), (dp, dh) = jax.value_and_grad(
      loss_fn, argnums=(0, 1), has_aux=True)(p, h)
  new_p, new_t = {}, {}
  for k in p:
    new_p[k], new_t[k] = _sgd(p[k], dp[k], t[k], lr, wd, momentum,
                              k == "kernel")
  return new_p, new_t, dh, loss, jnp.mean(jnp.argmax(logits, -1) == y)


def head_infer(dense, p, h):
  logits = dense.apply({"params": p}, jnp.mean(h, axis=(1, 2)))
  return jax.nn.softmax(logits.astype(jnp.float32))


def _single(devices):
  """The one device of `devices`, or None where there are several."""
  return devices[0] if len(devices) == 1 else None


class SharedPrograms:
  """Compiled programs shared by every architecture (the batch
  preparation; the layers engine's unit and head programs), keyed by what
  shapes them; least recently used evicted past `max_programs`. Safe from
  several threads: a program is compiled once."""

  def __init__(self, cfg, record_compile, max_programs: int = 4096,
               store=None):
    self.cfg = cfg
    self._record = record_compile
    self._store = store  # compile/program_store.py: this machine's, or None
    self._programs: collections.OrderedDict = collections.OrderedDict()
    self._locks: dict = {}
    self._units: dict = {}
    # key -> (full key, device) where it was first compiled on a single
    # device: the copy to relocate from.
    self._homes: dict = {}
    self._lock = threading.Lock()
    self.max_programs = max_programs
    self.hits = 0
    self.misses = 0
    self.relocated = 0
    self.loaded = 0

  def get(self, key: tuple, fn, abstract_args, static=None, devices=()):
    """The program `key` on `devices`: where another single device has it,
    that program loaded for this one (compile/relocate.py); else the
    machine's stored copy (compile/program_store.py); else `fn` compiled
    for `abstract_args()` (called only then) and stored."""
    full = (key, tuple(d.id for d in devices))
    with self._lock:
      prog = self._programs.get(full)
      if prog is not None:
        self._programs.move_to_end(full)
        self.hits += 1
        return prog
      lock = self._locks.setdefault(full, threading.Lock())
    seconds = None
    with lock:  # one compilation of `full`; other threads wait for it
      with self._lock:
        prog = self._programs.get(full)
        home, source = self._homes.get(key, (None, None))
        twin = self._programs.get(home) if home not in (None, full) else None
      if prog is None:
        t0 = time.perf_counter()
        prog, kind = self._find(key, twin, source, devices)
        if prog is None:
          prog, kind = self._compile(key, fn, abstract_args, static,
                                     devices), "compiled"
        seconds = time.perf_counter() - t0
        with self._lock:
          self.relocated += kind == "relocated"
          self.loaded += kind == "loaded"
          self.misses += kind == "compiled"
          self._programs[full] = prog
          if len(devices) == 1 and twin is None:  # none, or it was evicted
            self._homes[key] = (full, devices[0])
          while len(self._programs) > self.max_programs:
            self._programs.popitem(last=False)
    if seconds is not None:
      self._record(seconds, kind)  # the cache's count (no lock of ours held)
    return prog

  def _find(self, key, twin, source, devices):
    """(program, how) without compiling: relocated from `twin`, or loaded
    from the store; (None, None) if neither has it."""
    return relocate_lib.find(twin, source, _single(devices), self._store,
                             (key, self.cfg))

  def _compile(self, key, fn, abstract_args, static, devices):
    prog = self.cfg.compile(jax.jit(fn, static_argnames=static).lower(
        *abstract_args()))
    relocate_lib.keep(self._store, (key, self.cfg), prog, _single(devices))
    return prog

  def unit(self, conv, bn: bool, dtype) -> UnitPrograms:
    """The (stateless) functions of a unit kind."""
    key = ("unit", conv, bn, str(dtype))
    with self._lock:
      if key not in self._units:
        self._units[key] = UnitPrograms(conv, bn, dtype, self.cfg.weight_decay,
                                        self.cfg.momentum)
      return self._units[key]

  def drop_oldest(self, fraction: float = 0.25) -> int:
    """Evicts the least recently used `fraction` (memory mappings)."""
    with self._lock:
      n = int(len(self._programs) * fraction)
      for _ in range(n):
        self._programs.popitem(last=False)
      return n

  def __len__(self):
    return len(self._programs)


def prepare_program(programs: SharedPrograms, net, train_rows: int,
                    order_rows: int, sharding):
  """One dispatch's batches gathered and augmented (`net.prepare`, the
  network path's own) and its learning rates, one of each per step (so
  that the steps need no slicing dispatch): one program for every
  architecture on a device."""
  cfg = net.cfg
  k = cfg.chunk_steps

  def prep(images, labels, order, dispatch, key, mean, std, lr):
    idx = jax.lax.dynamic_slice_in_dim(order, dispatch * k, k)
    xs, ys = net.prepare(images, labels, idx, key, dispatch, mean, std)
    return tuple(xs), tuple(ys), tuple(lr)

  def args():
    c = cfg.image_shape[-1]
    rbg = jax.random.key(0, impl="rbg").dtype
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(
        a.shape, a.dtype, sharding=sharding), (
            jax.ShapeDtypeStruct((train_rows,) + cfg.image_shape, jnp.uint8),
            jax.ShapeDtypeStruct((train_rows,), jnp.int32),
            jax.ShapeDtypeStruct((order_rows, cfg.batch_size), jnp.int32),
            jax.ShapeDtypeStruct((), jnp.int32),
            jax.ShapeDtypeStruct((), rbg),
            jax.ShapeDtypeStruct((c,), jnp.float32),
            jax.ShapeDtypeStruct((c,), jnp.float32),
            jax.ShapeDtypeStruct((k,), jnp.float32)))
  key = ("prepare", train_rows, order_rows, cfg.batch_size, k,
         cfg.crop_padding, cfg.flip, cfg.image_shape)
  return programs.get(key, prep, args,
                      devices=tuple(sharding.mesh.devices.flat))


def mean_metrics(losses: list, accs: list) -> dict:
  """A chunk's mean loss and accuracy from its steps' scalars (as few
  eager operations as it takes: none for one step)."""
  mean = lambda xs: xs[0] if len(xs) == 1 else sum(xs[1:], xs[0]) / len(xs)
  return {"loss": mean(losses), "accuracy": mean(accs)}


class LayeredNetwork:
  """A DNA architecture trained through per-unit programs (see the module
  docstring); the interface of `steps.CompiledNetwork`, whose model, fresh
  weights, FLOP count and batch preparation it shares (`base`)."""

  def __init__(self, base, programs: SharedPrograms, sharding):
    self.base = base
    self.cfg = base.cfg
    self.signature = base.signature
    self.abstract_variables = base.abstract_variables
    self.units = units_of(base.signature)
    self._programs = programs
    self._sharding = sharding
    self._on = tuple(sharding.mesh.devices.flat)  # its devices
    self._dtype = base.model.dtype
    self._num_classes = base.cfg.num_classes
    self._dense = nn.Dense(self._num_classes, kernel_init=LECUN_NORMAL,
                           dtype=self._dtype)
    self._shapes_by_batch: dict[int, dict[int, Any]] = {}
    # The input image needs no gradient; vertex 0 only if it normalises.
    self._needs_grad = {u.vertex: bool(i) or u.bn
                        for i, u in enumerate(self.units)}

  # --- what the network path already has -----------------------------------
  def init(self, key):
    return self.base.init(key)

  def flops(self):
    return self.base.flops()

  def new_state(self, variables, seed: int = 0) -> LayeredState:
    """A state with fresh momentum around `variables` on the lane's
    device (`seed` is the network path's dropout stream: no DNA unit uses
    one)."""
    del seed
    state = LayeredState(
        step=jnp.zeros((), jnp.int32), params=dict(variables["params"]),
        batch_stats=dict(variables["batch_stats"]),
        trace=jax.tree.map(jnp.zeros_like, dict(variables["params"])))
    return jax.device_put(state, self._sharding)

  # --- shapes and programs ----------------------------------------------------
  @staticmethod
  def _passthrough(u: Unit) -> bool:
    """An identity edge, nothing summed in, no activation: its output is
    its input, so it runs no program (the input vertex, mostly)."""
    return u.conv is None and not u.bn and not u.skips

  def _unit(self, u: Unit) -> UnitPrograms:
    return self._programs.unit(u.conv, u.bn, self._dtype)

  def _unit_vars(self, params, batch_stats, u: Unit):
    cp = params[f"conv_{u.edge}"] if u.conv else {}
    bp = params[f"bn_{u.vertex}"] if u.bn else {}
    bs = batch_stats[f"bn_{u.vertex}"] if u.bn else {}
    return cp, bp, bs

  def _shapes(self, batch: int) -> dict[int, Any]:
    """The output shape (ShapeDtypeStruct) of every unit for `batch`."""
    if batch not in self._shapes_by_batch:
      v = self.abstract_variables
      acts = {}
      x = jax.ShapeDtypeStruct((batch,) + self.cfg.image_shape, jnp.float32)
      for u in self.units:
        h = x if u.src is None else acts[u.src]
        skips = [acts[s] for s in u.skips]
        cp, bp, bs = self._unit_vars(v["params"], v["batch_stats"], u)
        acts[u.vertex] = (h if self._passthrough(u) else jax.eval_shape(
            self._unit(u).forward, cp, bp, bs, h, skips)[1])
      self._shapes_by_batch[batch] = acts
    return self._shapes_by_batch[batch]

  def _abstract(self, tree):
    return jax.tree.map(lambda a: jax.ShapeDtypeStruct(
        a.shape, a.dtype, sharding=self._sharding), tree)

  def _inputs(self, u: Unit, batch: int):
    acts = self._shapes(batch)
    x = jax.ShapeDtypeStruct((batch,) + self.cfg.image_shape, jnp.float32)
    h = x if u.src is None else acts[u.src]
    return h, [acts[s] for s in u.skips]

  def _key(self, kind: str, u: Unit, batch: int, *extra) -> tuple:
    h, skips = self._inputs(u, batch)
    return (kind, u.conv, u.bn, str(self._dtype), h.shape, str(h.dtype),
            tuple(s.shape for s in skips), *extra)

  def _fwd(self, u: Unit):
    b = self.cfg.batch_size
    v = self.abstract_variables

    def args():
      h, skips = self._inputs(u, b)
      return self._abstract((*self._unit_vars(v["params"], v["batch_stats"],
                                              u), h, skips))
    return self._programs.get(self._key("fwd", u, b), self._unit(u).forward,
                              args, devices=self._on)

  def _bwd(self, u: Unit):
    b = self.cfg.batch_size
    v = self.abstract_variables
    need = u.src is not None and self._needs_grad[u.src]
    unit = self._unit(u)

    def args():
      h, skips = self._inputs(u, b)
      cp, bp, bs = self._unit_vars(v["params"], v["batch_stats"], u)
      z, y, _ = jax.eval_shape(unit.forward, cp, bp, bs, h, skips)
      lr = jax.ShapeDtypeStruct((), jnp.float32)
      return self._abstract((cp, bp, bs, cp, bp, h, skips, z, y, lr))
    fn = lambda *a: unit.backward(*a, need_dh=need)
    return self._programs.get(self._key("bwd", u, b, need), fn, args,
                              devices=self._on)

  def _infer(self, u: Unit):
    e = self.cfg.eval_batch_size
    v = self.abstract_variables

    def args():
      h, skips = self._inputs(u, e)
      return self._abstract((*self._unit_vars(v["params"], v["batch_stats"],
                                              u), h, skips))
    return self._programs.get(self._key("infer", u, e), self._unit(u).infer,
                              args, devices=self._on)

  def _head(self, train: bool):
    batch = self.cfg.batch_size if train else self.cfg.eval_batch_size
    h = self._shapes(batch)[self.units[-1].vertex]
    p = self.abstract_variables["params"]["head"]
    dense, cfg = self._dense, self.cfg
    key = ("head" if train else "head_infer", h.shape, str(h.dtype),
           self._num_classes, str(self._dtype))
    if train:
      fn = lambda p, t, h, y, lr: head_step(dense, cfg.weight_decay,
                                            cfg.momentum, p, t, h, y, lr)
      args = lambda: self._abstract((p, p, h, jax.ShapeDtypeStruct(
          (batch,), jnp.int32), jax.ShapeDtypeStruct((), jnp.float32)))
    else:
      fn = lambda p, h: head_infer(dense, p, h)
      args = lambda: self._abstract((p, h))
    return self._programs.get(key, fn, args, devices=self._on)

  def _prepare(self, train_rows: int, order_rows: int):
    return prepare_program(self._programs, self.base, train_rows, order_rows,
                           self._sharding)

  def _eval_input(self, eval_rows: int):
    cfg = self.cfg
    e = cfg.eval_batch_size

    def standardize(images, start, mean, std):
      x = jax.lax.dynamic_slice_in_dim(images, start, e)
      return augment_lib.standardize(x, mean, std)

    def args():
      c = cfg.image_shape[-1]
      return self._abstract((
          jax.ShapeDtypeStruct((eval_rows,) + cfg.image_shape, jnp.uint8),
          jax.ShapeDtypeStruct((), jnp.int32),
          jax.ShapeDtypeStruct((c,), jnp.float32),
          jax.ShapeDtypeStruct((c,), jnp.float32)))
    return self._programs.get(("eval_input", eval_rows, e, cfg.image_shape),
                              standardize, args, devices=self._on)

  def precompile(self, train_rows: int, eval_rows: int,
                 order_rows: int | None = None):
    """Compiles (or finds) every program this architecture runs: those of
    units an earlier architecture had are reused."""
    order_rows = order_rows or self.cfg.steps_per_dispatch
    self._prepare(train_rows, order_rows)
    self._eval_input(eval_rows)
    for u in self.units:
      if self._passthrough(u):
        continue
      self._fwd(u)
      if u.src is not None or u.bn:
        self._bwd(u)
      self._infer(u)
    self._head(True)
    self._head(False)
    self.flops()

  # --- running ----------------------------------------------------------------
  def _sgd_step(self, params, batch_stats, trace, x, y, lr):
    """One SGD step through the unit programs; updates the three dicts in
    place and returns (loss, accuracy)."""
    acts, zs = {}, {}
    for u in self.units:
      h = x if u.src is None else acts[u.src]
      if self._passthrough(u):
        acts[u.vertex] = h
        continue
      cp, bp, bs = self._unit_vars(params, batch_stats, u)
      zs[u.vertex], acts[u.vertex], new_bs = self._fwd(u)(
          cp, bp, bs, h, [acts[s] for s in u.skips])
      if u.bn:
        batch_stats[f"bn_{u.vertex}"] = new_bs
    last = self.units[-1].vertex
    params["head"], trace["head"], dh, loss, acc = self._head(True)(
        params["head"], trace["head"], acts[last], y, lr)
    grads = {last: dh}
    for u in reversed(self.units):
      dy = grads.pop(u.vertex, None)
      if dy is None or (u.src is None and not u.bn):
        continue
      if self._passthrough(u):
        inflows = [(u.src, dy)] if self._needs_grad[u.src] else []
      else:
        inflows = self._backward(u, params, batch_stats, trace, x, acts,
                                 zs[u.vertex], dy, lr)
      for src, g in inflows:
        grads[src] = g if src not in grads else grads[src] + g
    return loss, acc

  def _backward(self, u, params, batch_stats, trace, x, acts, z, dy, lr):
    """Unit `u`'s backward program: its parameters stepped in place; the
    gradients it sends to its inputs, [(vertex, gradient)]."""
    h = x if u.src is None else acts[u.src]
    cp, bp, bs = self._unit_vars(params, batch_stats, u)
    tc = trace[f"conv_{u.edge}"] if u.conv else {}
    tb = trace[f"bn_{u.vertex}"] if u.bn else {}
    cp, bp, tc, tb, dh, dskips = self._bwd(u)(
        cp, bp, bs, tc, tb, h, [acts[s] for s in u.skips], z, dy, lr)
    if u.conv:
      params[f"conv_{u.edge}"], trace[f"conv_{u.edge}"] = cp, tc
    if u.bn:
      params[f"bn_{u.vertex}"], trace[f"bn_{u.vertex}"] = bp, tb
    return ([(u.src, dh)] if dh is not None else []) + list(
        zip(u.skips, dskips))

  def train_dispatch(self, state, images, labels, order, dispatch, key, mean,
                     std, lr):
    """`chunk_steps` SGD steps (one dispatch of the network path: the same
    batches and augmentation) through the unit programs."""
    xs, ys, lrs = self._prepare(images.shape[0], order.shape[0])(
        images, labels, order, dispatch, key, mean, std, lr)
    params, batch_stats = dict(state.params), dict(state.batch_stats)
    trace = dict(state.trace)
    losses, accs = [], []
    for x, y, r in zip(xs, ys, lrs):
      loss, acc = self._sgd_step(params, batch_stats, trace, x, y, r)
      losses.append(loss)
      accs.append(acc)
    state = LayeredState(step=state.step + self.cfg.chunk_steps,
                         params=params, batch_stats=batch_stats, trace=trace)
    return state, mean_metrics(losses, accs)

  def predict(self, variables, images, start, mean, std):
    """Softmax of the eval batch at row `start` of `images`."""
    variables, images, start, mean, std = jax.device_put(
        (variables, images, start, mean, std), self._sharding)
    x = self._eval_input(images.shape[0])(images, start, mean, std)
    params, batch_stats = variables["params"], variables["batch_stats"]
    acts = {}
    for u in self.units:
      h = x if u.src is None else acts[u.src]
      acts[u.vertex] = h if self._passthrough(u) else self._infer(u)(
          *self._unit_vars(params, batch_stats, u), h,
          [acts[s] for s in u.skips])
    return self._head(False)(params["head"], acts[self.units[-1].vertex])
