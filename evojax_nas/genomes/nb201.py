"""The NAS-Bench-201 / NATS-Bench topology cell (Dong & Yang 2020).

A cell is a DAG on 4 nodes; each of its 6 edges (i -> j, i < j) carries one
of 5 operations. The genome is the tuple of 6 operation indices in the
benchmark's string order: edges into node 1 (from 0), node 2 (from 0, 1),
node 3 (from 0, 1, 2). Its integer `code` (base 5, first edge least
significant) indexes a dense array of the 15,625 cells, so the benchmark's
simulated searches look fitness up inside jitted loops (nb201_codes.py:
codes as arrays, and their mutation). Plain Python, no JAX.
"""

from __future__ import annotations

import dataclasses
import hashlib

import numpy as np

from evojax_nas.genomes.dna import GenomeError

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # (src, dst)
NUM_EDGES = len(EDGES)
NUM_CELLS = len(OPS) ** NUM_EDGES
FORMAT = "nb201-cell/1"


@dataclasses.dataclass(frozen=True)
class Cell:
  """Six operation indices; frozen and hashable. `channels` and
  `cells_per_stage` size the trainable skeleton (the benchmark: 16 and 5)."""
  ops: tuple[int, ...]
  channels: int = 16
  cells_per_stage: int = 5
  learning_rate: float = 0.1

  def __post_init__(self):
    if len(self.ops) != NUM_EDGES or not all(
        isinstance(o, (int, np.integer)) and 0 <= o < len(OPS)
        for o in self.ops):
      raise GenomeError(f"a NAS-Bench-201 cell needs {NUM_EDGES} operation "
                        f"indices in [0, {len(OPS)}), got {self.ops!r}")
    object.__setattr__(self, "ops", tuple(int(o) for o in self.ops))

  @property
  def code(self) -> int:
    return int(sum(o * len(OPS) ** i for i, o in enumerate(self.ops)))

  @classmethod
  def from_code(cls, code: int) -> "Cell":
    return cls(tuple(int(code) // len(OPS) ** i % len(OPS)
                     for i in range(NUM_EDGES)))

  def signature(self) -> tuple:
    return ("nb201", self.ops, self.channels, self.cells_per_stage)

  def signature_hash(self) -> str:
    return hashlib.sha1(repr(self.signature()).encode()).hexdigest()[:12]

  def arch_str(self) -> str:
    """The benchmark's string, e.g. |nor_conv_3x3~0|+|skip_connect~0|...|."""
    nodes = []
    for dst in (1, 2, 3):
      nodes.append("|" + "|".join(f"{OPS[o]}~{s}" for o, (s, d) in
                                  zip(self.ops, EDGES) if d == dst) + "|")
    return "+".join(nodes)

  @classmethod
  def from_arch_str(cls, text: str) -> "Cell":
    ops = []
    try:
      for dst, node in enumerate(text.strip().split("+"), 1):
        for src, item in enumerate(t for t in node.split("|") if t):
          op, s = item.split("~")
          if int(s) != src or src >= dst:
            raise ValueError
          ops.append(OPS.index(op))
    except ValueError:
      raise GenomeError(f"not a NAS-Bench-201 cell string: {text!r}; expected "
                        "e.g. |nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|"
                        ) from None
    return cls(tuple(ops))

  def to_json(self) -> dict:
    return {"format": FORMAT, "arch": self.arch_str(),
            "channels": self.channels, "cells_per_stage": self.cells_per_stage,
            "learning_rate": self.learning_rate}

  @classmethod
  def from_json(cls, obj: dict) -> "Cell":
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
      raise GenomeError(f"not a {FORMAT} genome: {obj!r}")
    try:
      return cls(cls.from_arch_str(obj.get("arch", "")).ops,
                 int(obj.get("channels", 16)),
                 int(obj.get("cells_per_stage", 5)),
                 float(obj.get("learning_rate", 0.1)))
    except (TypeError, ValueError) as err:
      raise GenomeError(f"malformed {FORMAT} genome: {err}") from None

  def describe(self) -> str:
    return self.arch_str()
