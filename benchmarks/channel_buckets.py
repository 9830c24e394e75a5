"""How many compilations channel buckets would save on a recorded run.

  python benchmarks/channel_buckets.py WORKDIR [WORKDIR ...]

Issue 25's candidate "shape buckets with exact masking": every convolution's
channel count rounded up to a bucket, the padded channels masked, so that
children differing only in channels share a compiled program. Before
building it, this counts, over a run's `born` events in birth order, the
distinct architectures (compile-cache misses with an unbounded cache) with
exact channels and with each bucket rule, and the convolution FLOPs the
padding would add (the sum over convolutions of kernel area x channels in
x channels out at the vertex's resolution, over every individual, bucketed
against exact). Reads only the log: no JAX program is built.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

from evojax_nas.evolution.events import parse, raw_lines
from evojax_nas.genomes.dna import DNA
from evojax_nas.genomes.formats import genome_from_json
from evojax_nas.workdir import EVENTS


def _geometric(ratio: float):
  def bucket(c: int) -> int:
    b = 1
    while b < c:
      b = max(b + 1, math.ceil(b * ratio))
    return b
  return bucket


def _multiple(m: int):
  return lambda c: m * math.ceil(c / m)


RULES = {"exact": lambda c: c, "x1.25": _geometric(1.25),
         "x1.5": _geometric(1.5), "powers of 2": _geometric(2.0),
         "multiples of 8": _multiple(8), "multiples of 16": _multiple(16)}


def bucketed(dna: DNA, rule) -> tuple:
  """`dna`'s signature with every convolution's channels bucketed."""
  vertices, edges = dna.signature()
  return vertices, tuple(e if len(e) == 5 else e[:7] + (rule(e[7]),)
                         for e in edges)


def conv_flops(dna: DNA, rule) -> float:
  """Multiply-adds of the convolutions of one image, channels bucketed."""
  shapes = dna.shapes()
  total = 0.0
  for e in dna.convolutions:
    src = shapes[e.src]
    h, w, _ = shapes[e.dst]
    kh, kw = e.kernel_size
    c_in = src[2] if e.src == dna.input_id else rule(src[2])
    total += h * w * kh * kw * c_in * rule(e.out_channels)
  return total


def genomes(workdir: Path) -> list[DNA]:
  born = []
  for line in raw_lines(Path(workdir) / EVENTS):
    try:
      e = parse(line)
    except ValueError:
      continue
    if e.get("event") == "born":
      born.append(genome_from_json(e["genome"]))
  return [g for g in born if isinstance(g, DNA)]


def table(workdir: Path) -> list[tuple[str, int, float]]:
  """(rule, distinct architectures, conv FLOPs relative to exact)."""
  gs = genomes(workdir)
  exact = sum(conv_flops(g, RULES["exact"]) for g in gs) or 1.0
  return [(name, len({bucketed(g, rule) for g in gs}),
           sum(conv_flops(g, rule) for g in gs) / exact)
          for name, rule in RULES.items()]


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  if not argv:
    raise SystemExit(__doc__)
  print("| run | individuals | rule | distinct architectures | vs exact "
        "| conv FLOPs vs exact |")
  print("|---|---|---|---|---|---|")
  for wd in argv:
    rows = table(Path(wd))
    n = len(genomes(Path(wd)))
    base = rows[0][1]
    for name, distinct, flops in rows:
      print(f"| {Path(wd).name} | {n} | {name} | {distinct} | "
            f"{distinct / base:.2f} | {flops:.2f} |")


if __name__ == "__main__":
  main()
