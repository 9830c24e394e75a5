"""Where a process's memory mappings go: per compiled program, and back.

  python benchmarks/mappings.py [--depths 1 2 4 8 12]

For conv chains of growing depth (the demo's train chunk: batch 50, two
unrolled steps, on a 45,000-image training split), prints the mappings
(/proc/self/maps lines) that compiling each program adds, split by
permission (LLVM's JIT maps each kernel module's code r-x, read-only data
r-- and data rw- separately), then how many remain after the network is
evicted from the step cache, and after `jax.clear_caches()` as well (JAX's
own caches). Linux only.
"""

from __future__ import annotations

import argparse
import collections
import gc

import jax

from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.genomes.dna import conv_chain


def snapshot() -> collections.Counter:
  """Mappings by permission, anonymous ones apart from file-backed ones."""
  c = collections.Counter()
  with open("/proc/self/maps", encoding="ascii", errors="replace") as f:
    for line in f:
      parts = line.split()
      c[parts[1] + (" file" if len(parts) > 5 and parts[5].startswith("/")
                    else " anon")] += 1
  return c


def main():
  p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
  p.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4, 8, 12])
  p.add_argument("--train-rows", type=int, default=45000)
  args = p.parse_args()
  cfg = StepConfig(num_classes=10, batch_size=50, chunk_steps=2,
                   eval_batch_size=500)
  cache = StepCache(cfg, max_networks=64)
  print(f"{'convs':>5} {'train chunk':>11} {'predict':>7} {'r-x anon':>8} "
        f"{'r-- anon':>8} {'rw- anon':>8} {'other':>5} {'after evict':>11} "
        f"{'after clear_caches':>18}")
  for depth in args.depths:
    net = cache.get(conv_chain(tuple(16 + j for j in range(depth)),
                               (1,) * depth))
    gc.collect()
    before = snapshot()
    rows = (args.train_rows, cfg.steps_per_dispatch)
    net._get(net._train_name(*rows), net._train_dispatch,  # pylint: disable=protected-access
             lambda n=net: n._abstract_train_args(*rows),  # pylint: disable=protected-access
             donate=(0,))
    mid = snapshot()
    net.precompile(args.train_rows, 10000)
    after = snapshot()
    added = after - before
    kinds = {k: added.get(f"{k} anon", 0) for k in ("r-xp", "r--p", "rw-p")}
    other = sum(added.values()) - sum(kinds.values())
    del net
    cache.clear()
    evicted = sum((snapshot() - before).values())
    jax.clear_caches()
    gc.collect()
    cleared = sum((snapshot() - before).values())
    print(f"{depth:>5} {sum((mid - before).values()):>11} "
          f"{sum((after - mid).values()):>7} {kinds['r-xp']:>8} "
          f"{kinds['r--p']:>8} {kinds['rw-p']:>8} {other:>5} {evicted:>11} "
          f"{cleared:>18}", flush=True)


if __name__ == "__main__":
  main()
