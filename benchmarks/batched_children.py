"""Training k same-signature children at once (vmap) vs one after another.

  python benchmarks/batched_children.py [--steps 30]

Children of IDENTITY and ALTER-LEARNING-RATE mutations share an architecture,
so their steps could run as one vmapped program over stacked weights. One
table: children trained per second for k = 1, 2, 4, 8, batched vs
sequential, and the ratio. On XLA:CPU a vmapped convolution over per-model
weights becomes a grouped convolution, which may well be slower; on a GPU
the batched program fills the device better. Whatever it shows is printed.
"""

from __future__ import annotations

import argparse
import time

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.step_time import GENOMES, TX, sgd_step
from evojax_nas.compile.steps import StepCache, StepConfig

BATCH = 50


def children_per_second(net, k: int, steps: int, batched: bool) -> float:
  step, tx = sgd_step(net.model), TX
  variables = [net.init(jax.random.key(i)) for i in range(k)]
  params = [v["params"] for v in variables]
  stats = [v["batch_stats"] for v in variables]
  opts = [tx.init(p) for p in params]
  rng = np.random.default_rng(0)
  x = jnp.asarray(rng.standard_normal((k, BATCH, 32, 32, 3)), jnp.float32)
  y = jnp.asarray(rng.integers(0, 10, (k, BATCH)), jnp.int32)
  lr = jnp.full((k,), 0.05, jnp.float32)
  if batched:
    stack = lambda trees: jax.tree.map(lambda *a: jnp.stack(a), *trees)
    carry = (stack(params), stack(stats), stack(opts))
    f = jax.jit(jax.vmap(step))

    def run(n, carry):
      for _ in range(n):
        *carry, loss = f(*carry, x, y, lr)
      jax.block_until_ready(loss)
      return tuple(carry)
  else:
    carry = list(zip(params, stats, opts))
    f = jax.jit(step)

    def run(n, carry):
      out = []
      for i, (p, s, o) in enumerate(carry):  # one child after another
        for _ in range(n):
          p, s, o, loss = f(p, s, o, x[i], y[i], lr[i])
        out.append((p, s, o))
      jax.block_until_ready(loss)
      return out
  carry = run(2, carry)  # compile + warm up
  t0 = time.perf_counter()
  run(steps, carry)
  return k / ((time.perf_counter() - t0) / steps)  # child-steps per second


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--steps", type=int, default=30)
  p.add_argument("--genomes", default="2 conv 16/32 s2;demo best (11/60/30, skips)",
                 help="names from benchmarks/step_time.py, separated by ;")
  args = p.parse_args()
  print(f"{jax.devices()[0].device_kind} x{jax.device_count()}, JAX "
        f"{jax.__version__}; child-steps per second, batch {BATCH}")
  print("| genome | k | sequential | vmapped | vmapped / sequential |")
  print("|---|---|---|---|---|")
  cache = StepCache(StepConfig(num_classes=10, batch_size=BATCH))
  for name in args.genomes.split(";"):
    net = cache.get(GENOMES[name])
    for k in (1, 2, 4, 8):
      seq = children_per_second(net, k, args.steps, batched=False)
      vec = children_per_second(net, k, args.steps, batched=True)
      print(f"| {name} | {k} | {seq:.1f} | {vec:.1f} | {vec / seq:.2f} |",
            flush=True)


if __name__ == "__main__":
  main()
