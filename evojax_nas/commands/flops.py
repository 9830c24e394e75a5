"""`evojax_nas flops --genome FILE`: the FLOP report of any genome.

FILE is a genome's JSON (any search space), a `results.json` (its best
genome) or a `model/model.json`. Prints the analytic counts from the jaxpr
(convolutions and matrix products as 2 FLOPs per multiply-accumulate,
elementwise and reductions separately) for the forward pass of one image,
the train step (Ft, one batch) and the eval step (Fv, one batch), next to
XLA's own `cost_analysis()` of the same programs. The classes and batch
come from the default config, overridden as anywhere:
`--config.data.name=cifar100`, `--config.train.batch_size=128`.
"""

from __future__ import annotations

import json
import sys

from absl import flags

import jax
import jax.numpy as jnp

from evojax_nas.commands import cli
from evojax_nas.compile import augment
from evojax_nas.compile import flops as flops_lib
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.genomes.dna import GenomeError
from evojax_nas.genomes.formats import genome_from_json


def load_genome(path: str):
  try:
    with open(path) as f:
      obj = json.load(f)
  except (OSError, json.JSONDecodeError) as err:
    raise GenomeError(f"cannot read a genome from {path}: {err}") from None
  if isinstance(obj, dict) and "best" in obj:       # results.json
    obj = obj["best"]["genome"]
  elif isinstance(obj, dict) and "class_names" in obj:  # model.json
    obj = obj["genome"]
  return genome_from_json(obj)


def _xla_flops(fn, *args) -> float:
  cost = jax.jit(fn).lower(*args).cost_analysis()
  if isinstance(cost, (list, tuple)):
    cost = cost[0]
  return float(cost.get("flops", float("nan")))


def report(genome, num_classes: int = 10, batch_size: int = 50,
           image_shape=(32, 32, 3)) -> dict:
  """Analytic and XLA FLOPs of the forward (one image), train step and eval
  step (one batch each), and the parameter count."""
  cfg = StepConfig(num_classes=num_classes, image_shape=tuple(image_shape),
                   batch_size=batch_size, chunk_steps=1,
                   eval_batch_size=batch_size)
  net = StepCache(cfg, mesh=None).get(genome)
  f32 = jnp.float32
  abstract = net.abstract_variables
  state = jax.eval_shape(net._fresh_state, abstract)  # pylint: disable=protected-access
  one = jax.ShapeDtypeStruct((1,) + cfg.image_shape, f32)
  x = jax.ShapeDtypeStruct((batch_size,) + cfg.image_shape, f32)
  img = jax.ShapeDtypeStruct((batch_size,) + cfg.image_shape, jnp.uint8)
  y = jax.ShapeDtypeStruct((batch_size,), jnp.int32)
  vec = jax.ShapeDtypeStruct((cfg.image_shape[-1],), f32)
  lr = jax.ShapeDtypeStruct((), f32)
  forward = lambda v, x: net.model.apply(v, x, train=False)
  train = net._train_step  # pylint: disable=protected-access
  evaluate = lambda v, x, m, s: net.model.apply(
      v, augment.standardize(x, m, s), train=False)
  programs = {"forward_image": (forward, (abstract, one)),
              "train_step": (train, (state, x, y, lr)),
              "eval_batch": (evaluate, (abstract, img, vec, vec))}
  out = {"genome": genome.describe(), "batch_size": batch_size,
         "params": flops_lib.count_params(abstract)}
  for name, (fn, args) in programs.items():
    kinds = flops_lib.count_flops_by_kind(fn, *args)
    total = sum(kinds.values())
    xla = _xla_flops(fn, *args)
    out[name] = {"analytic": int(total), "by_kind": kinds, "xla": xla,
                 "xla_over_analytic": round(xla / total, 4) if total else None}
  return out


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  fv = cli.command()
  flags.DEFINE_string("genome", None, "Genome JSON, results.json or "
                      "model.json.", flag_values=fv)
  flags.DEFINE_bool("json", False, "Print JSON.", flag_values=fv)
  cli.define_config_overrides(
      "evojax_nas flops", fv, argv,
      what="the defaults: data.name decides the classes, train.batch_size the "
      "batch")
  flags.mark_flag_as_required("genome", flag_values=fv)
  cli.parse("evojax_nas flops", __doc__, fv, argv)
  config = fv["config"].value
  from evojax_nas.train.data import dataset_info  # pylint: disable=g-import-not-at-top
  try:
    r = report(load_genome(fv.genome),
               dataset_info(config.data.name).num_classes,
               config.train.batch_size)
  except (GenomeError, ValueError) as err:
    print(f"evojax_nas flops: error: {err}", file=sys.stderr)
    return 2
  if fv.json:
    print(json.dumps(r, indent=1))
    return 0
  print(f"{r['genome']}\n{r['params']:,} parameters, batch {r['batch_size']}")
  print("| program | analytic FLOPs | conv | dot | elementwise | reduction "
        "| XLA cost_analysis | XLA / analytic |")
  print("|---|---|---|---|---|---|---|---|")
  for name in ("forward_image", "train_step", "eval_batch"):
    q = r[name]
    k = q["by_kind"]
    print(f"| {name} | {q['analytic']:,} | {k.get('conv', 0):,} | "
          f"{k.get('dot', 0):,} | {k.get('elementwise', 0):,} | "
          f"{k.get('reduction', 0):,} | {q['xla']:,.0f} | "
          f"{q['xla_over_analytic']} |")
  print("Per individual: Ft * steps + Fv * validation batches "
        "(train_step * Nt + eval_batch * Nv).")
  return 0


if __name__ == "__main__":
  sys.exit(main())
