"""The Genetic CNN encoding (Xie & Yuille 2017, section 3.1).

A network is S stages; stage s has K_s ordinary nodes v_1..v_K, encoded by
K_s(K_s-1)/2 bits ordered (1,2), (1,3), (2,3), (1,4), (2,4), (3,4), ...: bit
(i, j) = 1 means node j sums the output of node i into its input. Written in
the paper's notation, one stage per space-separated group and one dash group
per node j: "1-01 0-01-111 0-11-010-0111".

Decoding rules:
  * every stage has a default input node v_0 (a convolution of the previous
    stage's output) feeding every node without a predecessor, and a default
    output node v_{K+1} summing every node without a successor, then
    convolving;
  * an isolated ordinary node (no edge to another ordinary node) is dropped;
  * a stage with no edges at all is a single convolution;
  * every convolution is 3x3, stride 1, followed by batch-norm and ReLU, with
    the stage's width; a 3x3/2 max-pool follows each stage; then the classifier
    of the paper's LeNet-like base (FC32, dropout 0.5, FC classes).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json

import numpy as np

from evojax_nas.genomes.dna import GenomeError

FORMAT = "genetic-cnn/1"


def bits_per_stage(k: int) -> int:
  return k * (k - 1) // 2


@dataclasses.dataclass(frozen=True)
class Stage:
  """A decoded stage: `nodes` in topological order as (node, inputs), where
  input 0 is the default input node; `outputs` feed the default output node.
  `nodes == ()` is the single-convolution stage."""
  nodes: tuple[tuple[int, tuple[int, ...]], ...]
  outputs: tuple[int, ...]


@dataclasses.dataclass(frozen=True)
class GeneticCNN:
  """A bit string over stages of `nodes` ordinary nodes with `widths`
  channels; frozen and hashable. `learning_rate` is a training setting of the
  experiment (the paper trains every individual alike), not in the
  signature."""
  bits: tuple[int, ...]
  nodes: tuple[int, ...] = (3, 4, 5)
  widths: tuple[int, ...] = (8, 8, 16)
  fc_width: int = 32
  dropout: float = 0.5
  learning_rate: float = 0.01  # the paper's (4.1), before its steps

  def __post_init__(self):
    if len(self.nodes) != len(self.widths) or not self.nodes:
      raise GenomeError(f"nodes {self.nodes} and widths {self.widths} must "
                        "name the same, non-zero number of stages")
    if any(k < 1 for k in self.nodes) or any(w < 1 for w in self.widths):
      raise GenomeError("stage node counts and widths must be positive")
    length = sum(bits_per_stage(k) for k in self.nodes)
    if len(self.bits) != length or any(b not in (0, 1) for b in self.bits):
      raise GenomeError(f"stages {self.nodes} need {length} bits of 0/1, got "
                        f"{len(self.bits)}: {self.bits}")
    object.__setattr__(self, "bits", tuple(int(b) for b in self.bits))

  # --- the string ------------------------------------------------------------
  def stage_bits(self) -> list[tuple[int, ...]]:
    out, start = [], 0
    for k in self.nodes:
      out.append(self.bits[start:start + bits_per_stage(k)])
      start += bits_per_stage(k)
    return out

  def unit(self) -> np.ndarray:
    """The stage of every bit (crossover swaps whole stages)."""
    return np.repeat(np.arange(len(self.nodes)),
                     [bits_per_stage(k) for k in self.nodes])

  def code(self) -> str:
    """The paper's notation, e.g. '1-01 0-01-111 0-11-010-0111'."""
    stages = []
    for k, bits in zip(self.nodes, self.stage_bits()):
      groups, start = [], 0
      for j in range(2, k + 1):
        groups.append("".join(map(str, bits[start:start + j - 1])))
        start += j - 1
      stages.append("-".join(groups) if groups else "")
    return " ".join(stages)

  @classmethod
  def from_code(cls, text: str, **kwargs) -> "GeneticCNN":
    """Parses the paper's notation; the stage sizes follow from it."""
    stages = text.split()
    try:
      nodes, bits = [], []
      for st in stages:
        groups = st.split("-")
        if any(len(g) != j for j, g in enumerate(groups, 1)):
          raise ValueError
        nodes.append(len(groups) + 1)
        bits += [int(c) for g in groups for c in g]
    except ValueError:
      raise GenomeError(f"not a Genetic CNN string: {text!r}; expected e.g. "
                        "'1-01 0-01-111 0-11-010-0111'") from None
    if "widths" not in kwargs and len(nodes) != 3:
      kwargs["widths"] = (8,) * len(nodes)
    return cls(bits=tuple(bits), nodes=tuple(nodes), **kwargs)

  # --- decoding ----------------------------------------------------------------
  def decode(self) -> tuple[Stage, ...]:
    return tuple(_decode_stage(k, bits)
                 for k, bits in zip(self.nodes, self.stage_bits()))

  def signature(self) -> tuple:
    """What shapes the network: decoded stages, widths and head, so strings
    that differ only in isolated nodes share compiled programs."""
    return ("genetic_cnn", self.decode(), self.widths, self.fc_width,
            self.dropout)

  def signature_hash(self) -> str:
    return hashlib.sha1(repr(self.signature()).encode()).hexdigest()[:12]

  def describe(self) -> str:
    return self.code()

  # --- JSON ---------------------------------------------------------------------
  def to_json(self) -> dict:
    return {"format": FORMAT, "code": self.code(), "widths": list(self.widths),
            "fc_width": self.fc_width, "dropout": self.dropout,
            "learning_rate": self.learning_rate}

  @classmethod
  def from_json(cls, obj) -> "GeneticCNN":
    if isinstance(obj, str):
      try:
        obj = json.loads(obj)
      except json.JSONDecodeError as err:
        raise GenomeError(f"genome is not valid JSON: {err}") from None
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
      raise GenomeError(f"not a {FORMAT} genome: {obj!r}")
    try:
      return cls.from_code(obj["code"], widths=tuple(obj["widths"]),
                           fc_width=int(obj["fc_width"]),
                           dropout=float(obj["dropout"]),
                           learning_rate=float(obj["learning_rate"]))
    except (KeyError, TypeError) as err:
      raise GenomeError(f"{FORMAT} genome lacks or mistypes {err}") from None


def _decode_stage(k: int, bits: tuple[int, ...]) -> Stage:
  edges, start = set(), 0
  for j in range(2, k + 1):
    for i in range(1, j):
      if bits[start + i - 1]:
        edges.add((i, j))
    start += j - 1
  if not edges:
    return Stage(nodes=(), outputs=())
  connected = {n for e in edges for n in e}  # isolated nodes are dropped
  nodes = []
  for j in sorted(connected):
    preds = tuple(sorted(i for i, jj in edges if jj == j))
    nodes.append((j, preds or (0,)))
  outputs = tuple(sorted(n for n in connected
                         if not any(i == n for i, _ in edges)))
  return Stage(nodes=tuple(nodes), outputs=outputs)


def random_genome(rng: np.random.Generator, **kwargs) -> GeneticCNN:
  """Every bit from Bernoulli(0.5) (the paper's initial population)."""
  nodes = kwargs.get("nodes", GeneticCNN.nodes)
  length = sum(bits_per_stage(k) for k in nodes)
  return GeneticCNN(bits=tuple(int(b) for b in rng.integers(0, 2, length)),
                    **kwargs)
