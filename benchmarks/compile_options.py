"""Compile and step time of a recorded run's architectures under XLA
compiler options, given per program (`StepConfig.compiler_options`, the
trainer's own path), so that every option set runs in one process,
interleaved.

  python benchmarks/compile_options.py WORKDIR [--architectures 6]
      [--steps 40] [--options NAME=K:V,K:V;NAME=...]

For the last `--architectures` distinct architectures of WORKDIR's run
(its deepest, latest ones), each option set compiles the train dispatch
and the predict program from a cold cache, then times `--steps` SGD steps
(median of 3 repeats, the option sets' repeats interleaved); the option
`chunk_steps:K` sets the steps per train chunk instead. Prints one
row per option set: compile seconds (sum over the architectures), ms per
step (sum of each architecture's median), their ratios to the default, and
the largest weight difference to the default's after the steps (the
options must not change what an individual computes beyond rounding).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from evojax_nas import config as config_lib
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.genomes.formats import genome_from_json

DEFAULT_OPTIONS = (
    "default=;"
    "fast_compile=xla_backend_optimization_level:2,"
    "xla_cpu_use_fusion_emitters:false;"  # steps.COMPILER_OPTIONS's
    "no_fusion_emitters=xla_cpu_use_fusion_emitters:false;"
    "fast_compile_preset=xla_cpu_opt_preset:CPU_OPT_PRESET_FAST_COMPILE;"
    "codegen_split_1=xla_cpu_parallel_codegen_split_count:1;"
    "opt_level_1=xla_backend_optimization_level:1;"
    "opt_level_2=xla_backend_optimization_level:2")


def parse_options(text: str) -> dict[str, dict]:
  """'name=k:v,k:v;name=' -> {name: {k: v}} (true/false/ints parsed; a
  list value joins its items with '|')."""
  out = {}
  for part in filter(None, text.split(";")):
    name, _, body = part.partition("=")
    opts = {}
    for kv in filter(None, body.split(",")):
      k, _, v = kv.partition(":")
      opts[k] = {"true": True, "false": False}.get(
          v, int(v) if v.lstrip("-").isdigit() else v.replace("|", ","))
    out[name.strip()] = opts
  return out


def late_architectures(workdir: Path, count: int) -> list:
  """The last `count` distinct trained architectures of the run."""
  events = [json.loads(l) for l in (workdir / "events.jsonl").open()]
  trained = {e["id"] for e in events if e["event"] == "trained"}
  seen, out = set(), []
  for e in reversed([e for e in events if e["event"] == "born"
                     and e["id"] in trained]):
    genome = genome_from_json(e["genome"])
    if genome.signature() not in seen:
      seen.add(genome.signature())
      out.append(genome)
    if len(out) == count:
      break
  return out


class Contender:
  """One architecture compiled under one option set, ready to step."""

  def __init__(self, genome, cfg: StepConfig, opts: dict, data):
    images, labels, order = data
    opts = dict(opts)
    cfg = dataclasses.replace(  # the trainer's own path for XLA's options
        cfg, chunk_steps=opts.pop("chunk_steps", cfg.chunk_steps),
        compiler_options=tuple(sorted(opts.items())))
    self.data, self.cfg = data, cfg
    cache = StepCache(cfg)
    net = cache.get(genome)
    t0 = time.perf_counter()
    net.precompile(len(labels), cfg.eval_batch_size, len(order))
    self.compile_s = time.perf_counter() - t0
    self.net = net
    self.state = net.new_state(net.init(jax.random.key(0)))
    self.mean, self.std = jnp.zeros(3), jnp.ones(3)
    self.key = jax.random.key(0, impl="rbg")
    self.lr = jnp.full((cfg.steps_per_dispatch,), 0.02, jnp.float32)
    self.dispatch = 0

  def run(self, steps: int) -> float:
    images, labels, order = self.data
    t0 = time.perf_counter()
    for _ in range(steps // self.cfg.steps_per_dispatch):
      self.state, m = self.net.train_dispatch(
          self.state, images, labels, order, jnp.int32(self.dispatch),
          self.key, self.mean, self.std, self.lr)
      self.dispatch += 1
    jax.block_until_ready(m)
    return (time.perf_counter() - t0) / steps

  def weights(self):
    return jax.tree.leaves(jax.device_get(self.state.params))


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("workdir", type=Path)
  p.add_argument("--architectures", type=int, default=6)
  p.add_argument("--steps", type=int, default=40)
  p.add_argument("--options", default=DEFAULT_OPTIONS)
  p.add_argument("--models", default="", help="comma-separated model.json "
                 "files (retrained answers) to time instead of the run's "
                 "late architectures")
  args = p.parse_args(argv)
  config = config_lib.from_workdir(args.workdir)
  cfg = StepConfig(num_classes=10, batch_size=config.train.batch_size,
                   chunk_steps=config.train.chunk_steps,
                   eval_batch_size=config.train.eval_batch_size)
  rng = np.random.default_rng(0)
  images = jnp.asarray(rng.integers(0, 256, (2000, 32, 32, 3)), jnp.uint8)
  labels = jnp.asarray(rng.integers(0, 10, 2000), jnp.int32)
  order = jnp.asarray(rng.integers(0, 2000, (4 * args.steps + 64,
                                             cfg.batch_size)), jnp.int32)
  options = parse_options(args.options)
  genomes = ([genome_from_json(json.loads(Path(m).read_text())["genome"])
              for m in args.models.split(",")] if args.models else
             late_architectures(args.workdir, args.architectures))
  print(f"{jax.devices()[0].device_kind} ({jax.default_backend()}), JAX "
        f"{jax.__version__}; {len(genomes)} late architectures of "
        f"{args.workdir}, batch {cfg.batch_size}, chunks of "
        f"{cfg.chunk_steps}; compile = train dispatch + predict, cold")
  rows = {name: {"compile": 0.0, "step": 0.0, "diff": 0.0}
          for name in options}
  Contender(genomes[-1], cfg, {}, (images, labels, order))  # warm-up
  names = list(options)
  for i, g in enumerate(genomes):
    contenders = {}
    for name in names[i % len(names):] + names[:i % len(names)]:  # rotated
      contenders[name] = Contender(g, cfg, options[name],
                                   (images, labels, order))
      rows[name]["compile"] += contenders[name].compile_s
    contenders = {name: contenders[name] for name in names}
    for c in contenders.values():
      c.run(2 * cfg.steps_per_dispatch)  # warm-up
    times = {name: [] for name in options}
    for _ in range(3):
      for name, c in contenders.items():
        times[name].append(c.run(args.steps))
    ref = contenders[next(iter(options))].weights()
    for name, c in contenders.items():
      rows[name]["step"] += statistics.median(times[name])
      rows[name]["diff"] = max(rows[name]["diff"], max(
          float(np.max(np.abs(a - b))) for a, b in zip(ref, c.weights())))
    print(f"  {g.describe()[:70]}: " + ", ".join(
        f"{n} {contenders[n].compile_s:.1f}s/{1e3 * statistics.median(t):.1f}"
        "ms" for n, t in times.items()), flush=True)
  base = rows[next(iter(options))]
  print(f"{'options':>20} {'compile s':>9} {'x':>6} {'ms/step':>8} "
        f"{'x':>6} {'max |dw|':>9}")
  for name, r in rows.items():
    print(f"{name:>20} {r['compile']:>9.1f} "
          f"{r['compile'] / base['compile']:>6.2f} {1e3 * r['step']:>8.1f} "
          f"{r['step'] / base['step']:>6.2f} {r['diff']:>9.1e}")


if __name__ == "__main__":
  sys.exit(main())
