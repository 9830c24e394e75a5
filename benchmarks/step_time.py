"""Train-step time of evolved genomes: the engine against the alternatives.

  python benchmarks/step_time.py [--steps 60] [--torch]

For a fixed set of five genomes (from the trivial start to a demo-sized
network), one table:
  * engine: `Trainer`'s path (train/trainer.py) — the AOT-compiled train chunk
    (on-device gather, augmentation and 2 unrolled steps per dispatch, the
    demo's chunk);
  * hand-written JAX: the same Linen module, optax SGD with momentum and weight
    decay, augmentation and the step in one `jax.jit`, one step per dispatch
    — what a user would write for one fixed network;
  * PyTorch (with --torch, when installed): the same architecture in eager
    PyTorch on the CPU (NNI and KerasTuner users train there);
  * achieved GFLOP/s of the engine's step (analytic FLOPs from the jaxpr)
    against this machine's SGEMM rate measured in the same process.
Batch 50, CIFAR-sized inputs; engine and hand-written repeats interleaved,
medians after warm-up.
"""

from __future__ import annotations

import argparse
import statistics
import time

import jax
import jax.numpy as jnp
import numpy as np
import optax

from evojax_nas.compile import augment
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.genomes.dna import conv_chain, trivial

BATCH = 50


GENOMES = {
    "trivial (GAP + FC)": trivial(),
    "1 conv 8": conv_chain([8], [1]),
    "2 conv 16/32 s2": conv_chain([16, 32], [2, 2]),
    "demo best (11/60/30, skips)": conv_chain([11, 60, 30], [2, 1, 1],
                                              skips=[(1, 5)]),
    "3 conv 32/64/128": conv_chain([32, 64, 128], [1, 2, 2]),
}


def timed(fn, steps: int, repeats: int = 3) -> float:
  """Median seconds per step of `fn(n)` running n steps (blocking)."""
  return timed_together({"": fn}, steps, repeats)[""]


def timed_together(fns: dict, steps: int, repeats: int = 5) -> dict:
  """Median seconds per step of each `fn(n)`, the repeats interleaved so
  that a slow spell of the machine hits every contender alike."""
  for fn in fns.values():
    fn(max(2, steps // 10))  # warm-up (compiles)
  times = {name: [] for name in fns}
  for _ in range(repeats):
    for name, fn in fns.items():
      t0 = time.perf_counter()
      fn(steps)
      times[name].append((time.perf_counter() - t0) / steps)
  return {name: statistics.median(t) for name, t in times.items()}


def engine_step(genome, images, labels):
  """The trainer's loop on CPU: the batch order on the device, pre-placed
  dispatch numbers, one compiled chunk per dispatch."""
  cfg = StepConfig(num_classes=10, batch_size=BATCH, chunk_steps=2)
  cache = StepCache(cfg)
  net = cache.get(genome)
  order = jnp.asarray(np.random.default_rng(0).integers(
      0, len(labels), (10_000 * cfg.chunk_steps, BATCH)), jnp.int32)
  net.precompile(len(labels), 500, len(order))
  mean, std = jnp.zeros(3), jnp.ones(3)
  key = jax.random.key(0, impl="rbg")
  lr = jnp.full((cfg.chunk_steps,), 0.05, jnp.float32)
  chunks = [jnp.int32(i) for i in range(10_000)]
  state = [net.new_state(net.init(jax.random.key(0)))]

  def run(n):
    s = state[0]
    for i in range(n // cfg.chunk_steps):
      s, m = net.train_dispatch(s, images, labels, order, chunks[i], key,
                                mean, std, lr)
    jax.block_until_ready(m)
    state[0] = s
  return run, net


# Momentum 0.9 and weight decay 1e-4, as the engine; the learning rate is an
# argument so that a vmapped step can give each child its own.
TX = optax.chain(optax.add_decayed_weights(1e-4), optax.trace(0.9))


def sgd_step(model):
  """A plain train step of `model`: (params, stats, opt, x, y, lr) ->
  (params, stats, opt, loss)."""
  def step(params, stats, opt, x, y, lr):
    def loss_fn(p):
      logits, upd = model.apply({"params": p, "batch_stats": stats}, x,
                                train=True, mutable=["batch_stats"])
      return optax.softmax_cross_entropy_with_integer_labels(
          logits, y).mean(), upd.get("batch_stats", {})
    (loss, stats), grads = jax.value_and_grad(loss_fn, has_aux=True)(params)
    updates, opt = TX.update(grads, opt, params)
    params = jax.tree.map(lambda p, u: p - lr * u, params, updates)
    return params, stats, opt, loss
  return step


def handwritten_step(net, images, labels):
  """The same module in a minimal jit loop (augmentation inside)."""
  train = sgd_step(net.model)
  variables = net.init(jax.random.key(0))
  params, stats = variables["params"], variables["batch_stats"]
  opt = TX.init(params)
  mean, std = jnp.zeros(3), jnp.ones(3)

  @jax.jit
  def step(params, stats, opt, key, idx):
    x = augment.augment(key, augment.standardize(images[idx], mean, std))
    return train(params, stats, opt, x, labels[idx], 0.05)

  rng = np.random.default_rng(0)
  carry = [params, stats, opt]

  def run(n):
    p, s, o = carry
    for i in range(n):
      idx = jnp.asarray(rng.integers(0, len(labels), BATCH), jnp.int32)
      p, s, o, loss = step(p, s, o, jax.random.key(i, impl="rbg"), idx)
    jax.block_until_ready(loss)
    carry[:] = [p, s, o]
  return run


def torch_step(genome):
  import torch  # pylint: disable=import-outside-toplevel
  from torch import nn  # pylint: disable=import-outside-toplevel
  torch.set_num_threads(max(1, torch.get_num_threads()))

  class Net(nn.Module):
    def __init__(self):
      super().__init__()
      self.convs, self.bns = nn.ModuleList(), nn.ModuleList()
      self.plan, c_in, acts = [], 3, {0: 3}
      for v in genome.vertices[1:]:
        e = genome.backbone_edge(v.id)
        if e.kind == "conv":
          kh, kw = e.kernel_size
          self.convs.append(nn.Conv2d(c_in, e.out_channels, (kh, kw),
                                      stride=e.stride_int,
                                      padding=(kh // 2, kw // 2)))
          c_in = e.out_channels
        self.bns.append(nn.BatchNorm2d(c_in) if v.activation == "bn_relu"
                        else nn.Identity())
        self.plan.append((v.id, e.src, e.kind == "conv",
                          [s.src for s in genome.skip_edges if s.dst == v.id]))
        acts[v.id] = c_in
      self.head = nn.Linear(c_in, 10)

    def forward(self, x):
      out, conv, h = {0: x}, iter(self.convs), x
      for (vid, src, is_conv, skips), bn in zip(self.plan, self.bns):
        h = next(conv)(out[src]) if is_conv else out[src]
        for s in skips:  # nearest resize + channel pad/truncate
          z = nn.functional.interpolate(out[s], size=h.shape[2:])
          if z.shape[1] >= h.shape[1]:
            z = z[:, :h.shape[1]]
          else:
            z = nn.functional.pad(z, (0, 0, 0, 0, 0, h.shape[1] - z.shape[1]))
          h = h + z
        if not isinstance(bn, nn.Identity):
          h = torch.relu(bn(h))
        out[vid] = h
      return self.head(h.mean((2, 3)))

  net = Net()
  opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9,
                        weight_decay=1e-4)
  x = torch.randn(BATCH, 3, 32, 32)
  y = torch.randint(0, 10, (BATCH,))

  def run(n):
    for _ in range(n):
      opt.zero_grad()
      loss = nn.functional.cross_entropy(net(x), y)
      loss.backward()
      opt.step()
  return run


def sgemm_gflops(n: int = 2048) -> float:
  a = jnp.ones((n, n), jnp.float32)
  f = jax.jit(lambda a: a @ a)
  f(a).block_until_ready()
  t = timed(lambda k: [f(a).block_until_ready() for _ in range(k)], 5)
  return 2 * n ** 3 / t / 1e9


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--steps", type=int, default=60)
  p.add_argument("--torch", action="store_true",
                 help="also time PyTorch (pip install torch)")
  args = p.parse_args()
  rng = np.random.default_rng(0)
  images = jax.device_put(rng.integers(0, 255, (5000, 32, 32, 3), np.uint8))
  labels = jax.device_put(rng.integers(0, 10, 5000).astype(np.int32))
  peak = sgemm_gflops()
  print(f"{jax.devices()[0].device_kind} x{jax.device_count()}, JAX "
        f"{jax.__version__}; SGEMM 2048^3: {peak:.1f} GFLOP/s")
  head = "| genome | engine ms/step | hand-written JAX ms/step | engine / hand-written "
  head += "| PyTorch ms/step | PyTorch / engine " if args.torch else ""
  head += "| engine GFLOP/s | fraction of SGEMM |"
  print(head)
  print("|" + "---|" * (head.count("|") - 1))
  for name, genome in GENOMES.items():
    run, net = engine_step(genome, images, labels)
    t = timed_together({"engine": run,
                        "hand": handwritten_step(net, images, labels)},
                       args.steps)
    t_engine, t_hand = t["engine"], t["hand"]
    row = f"| {name} | {1e3 * t_engine:.2f} | {1e3 * t_hand:.2f} | " \
          f"{t_engine / t_hand:.3f} "
    if args.torch:
      t_torch = timed(torch_step(genome), max(10, args.steps // 3))
      row += f"| {1e3 * t_torch:.2f} | {t_torch / t_engine:.2f} "
    gflops = net.flops()["train_step"] / t_engine / 1e9
    row += f"| {gflops:.2f} | {gflops / peak:.3f} |"
    print(row, flush=True)


if __name__ == "__main__":
  main()
