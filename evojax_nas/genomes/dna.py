"""The DNA of Large-Scale Evolution (Real et al. 2017, section 3.2).

A DNA is a graph along a *convolutional backbone*: vertices are activations
(batch-norm + ReLU, or linear) listed in backbone order, starting with the
input image; consecutive vertices are joined by one *backbone* edge (a
convolution or an identity); *skip* edges are identities from an earlier
vertex to a later one. After the last vertex come a global average pool and a
linear classifier, always present. The learning rate is part of the DNA.

Numerical parameters are stored as floats and rounded only when the network is
built, so that several small mutations can accumulate (the paper's footnote 3).
Every vertex and edge carries an id that survives mutation: weight inheritance
matches layers by (id, shape).

The `signature()` holds only what shapes the compiled network (structure and
the *effective* integer parameters), never the learning rate.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from typing import Any

from evojax_nas.errors import GenomeError  # dna.GenomeError: the same class

ACTIVATIONS = ("bn_relu", "linear")
EDGE_KINDS = ("conv", "identity")
FORMAT = "lse-dna/1"


class _Frozen:
  """`replace` for the frozen dataclasses below (a new value, changed)."""

  def replace(self, **changes):
    return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Vertex(_Frozen):
  """An activation: the sum of its inputs, then BN + ReLU or nothing."""
  id: int
  activation: str = "linear"


@dataclasses.dataclass(frozen=True)
class Edge(_Frozen):
  """An identity or a convolution from vertex `src` to vertex `dst`.

  `filter_h`, `filter_w`, `stride` and `channels` are the stored floats; the
  network uses `kernel_size`, `stride_int` and `out_channels`.
  """
  id: int
  src: int
  dst: int
  kind: str = "identity"
  skip: bool = False
  filter_h: float = 3.0
  filter_w: float = 3.0
  stride: float = 1.0
  channels: float = 1.0

  @property
  def kernel_size(self) -> tuple[int, int]:
    return (_odd(self.filter_h), _odd(self.filter_w))

  @property
  def stride_int(self) -> int:
    """Powers of two only: the stored float's log2, rounded."""
    return 2 ** max(0, int(math.floor(math.log2(self.stride) + 0.5)))

  @property
  def out_channels(self) -> int:
    return max(1, int(math.floor(self.channels + 0.5)))


def _odd(x: float) -> int:
  """The odd integer nearest to `x` (at least 1)."""
  return 2 * max(0, int(math.floor((x - 1.0) / 2.0 + 0.5))) + 1


@dataclasses.dataclass(frozen=True)
class DNA(_Frozen):
  """A whole genome; frozen and hashable. Plain Python, like every genome:
  the config, the report and the log's check read genomes without loading
  JAX, and nothing maps over a genome's numbers (its `signature()` keys the
  compiled programs)."""
  vertices: tuple[Vertex, ...]
  edges: tuple[Edge, ...]
  learning_rate: float = 0.1
  next_id: int = 0

  # --- graph queries -------------------------------------------------------
  @property
  def input_id(self) -> int:
    return self.vertices[0].id

  @property
  def output_id(self) -> int:
    """The vertex that the global pool reads."""
    return self.vertices[-1].id

  def backbone_edge(self, dst: int) -> Edge:
    """The primary (non-skip) edge into vertex `dst`."""
    for e in self.edges:
      if e.dst == dst and not e.skip:
        return e
    raise KeyError(dst)

  @property
  def convolutions(self) -> tuple[Edge, ...]:
    return tuple(e for e in self.edges if e.kind == "conv")

  @property
  def skip_edges(self) -> tuple[Edge, ...]:
    return tuple(e for e in self.edges if e.skip)

  def shapes(self, input_shape: tuple[int, int, int] = (32, 32, 3)):
    """Static (height, width, channels) of every vertex, keyed by vertex id."""
    out = {self.input_id: tuple(input_shape)}
    for v in self.vertices[1:]:
      e = self.backbone_edge(v.id)
      h, w, c = out[e.src]
      if e.kind == "conv":
        s = e.stride_int
        out[v.id] = (-(-h // s), -(-w // s), e.out_channels)
      else:
        out[v.id] = (h, w, c)
    return out

  # --- identity of the architecture -----------------------------------------
  def signature(self) -> tuple:
    """What the compiled network depends on; the compile-cache key."""
    return (
        tuple((v.id, v.activation) for v in self.vertices),
        tuple((e.id, e.src, e.dst, e.kind, e.skip) +
              ((e.kernel_size, e.stride_int, e.out_channels)
               if e.kind == "conv" else ()) for e in self.edges),
    )

  def signature_hash(self) -> str:
    return hashlib.sha1(repr(self.signature()).encode()).hexdigest()[:12]

  def describe(self) -> str:
    """A one-line summary, e.g. `C3x3/1:16+BN+R > C3x3/2:32+BN+R | 1 skip`."""
    parts = []
    for v in self.vertices[1:]:
      e = self.backbone_edge(v.id)
      s = "I" if e.kind == "identity" else (
          f"C{e.kernel_size[0]}x{e.kernel_size[1]}/{e.stride_int}:"
          f"{e.out_channels}")
      parts.append(s + ("+BN+R" if v.activation == "bn_relu" else ""))
    body = " > ".join(parts) if parts else "input"
    n_skip = len(self.skip_edges)
    return body + (f" | {n_skip} skip" if n_skip else "") + " > GAP > FC"

  # --- serialisation ---------------------------------------------------------
  def to_json(self) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "learning_rate": self.learning_rate,
        "next_id": self.next_id,
        "vertices": [dataclasses.asdict(v) for v in self.vertices],
        "edges": [dataclasses.asdict(e) for e in self.edges],
    }

  @classmethod
  def from_json(cls, data: dict[str, Any] | str) -> "DNA":
    """Parses and validates; raises GenomeError with what is wrong."""
    try:
      if isinstance(data, str):
        data = json.loads(data)
      if data.get("format", FORMAT) != FORMAT:
        raise GenomeError(f"unknown genome format {data.get('format')!r}, "
                          f"expected {FORMAT!r}")
      dna = cls(
          vertices=tuple(Vertex(id=int(v["id"]), activation=v["activation"])
                         for v in data["vertices"]),
          edges=tuple(Edge(id=int(e["id"]), src=int(e["src"]),
                           dst=int(e["dst"]), kind=e["kind"],
                           skip=bool(e["skip"]),
                           filter_h=float(e["filter_h"]),
                           filter_w=float(e["filter_w"]),
                           stride=float(e["stride"]),
                           channels=float(e["channels"]))
                      for e in data["edges"]),
          learning_rate=float(data["learning_rate"]),
          next_id=int(data["next_id"]))
    except GenomeError:
      raise
    except (KeyError, TypeError, ValueError, AttributeError) as err:
      raise GenomeError(f"malformed genome JSON ({type(err).__name__}: "
                        f"{err})") from None
    validate(dna)
    return dna


def trivial(learning_rate: float = 0.1) -> DNA:
  """The paper's initial individual: input, global pool, linear classifier."""
  return DNA(vertices=(Vertex(id=0, activation="linear"),), edges=(),
             learning_rate=learning_rate, next_id=1)


def conv_chain(channels=(8, 16), strides=(1, 2), skips=(),
               learning_rate: float = 0.1) -> DNA:
  """A hand-made DNA: 3x3 conv + BN + ReLU per entry of `channels` (vertex
  ids 1, 3, 5, ...; conv edge ids 2, 4, 6, ...), plus identity skips given as
  (src, dst) vertex ids. For tests, benchmarks and seeding experiments."""
  vs, es, nid, prev = [Vertex(0)], [], 1, 0
  for c, s in zip(channels, strides):
    vs.append(Vertex(nid, "bn_relu"))
    es.append(Edge(nid + 1, prev, nid, "conv", False, 3.0, 3.0, float(s),
                   float(c)))
    prev, nid = nid, nid + 2
  for src, dst in skips:
    es.append(Edge(nid, src, dst, "identity", True))
    nid += 1
  return validate(DNA(tuple(vs), tuple(es), learning_rate, nid))


def validate(dna: DNA) -> DNA:
  """Checks every invariant the compiler and the mutations rely on."""
  def fail(msg):
    raise GenomeError(f"invalid genome: {msg}")

  if not dna.vertices:
    fail("it has no vertices (the first vertex must be the input)")
  if not (math.isfinite(dna.learning_rate) and dna.learning_rate > 0):
    fail(f"learning_rate must be a positive number, got {dna.learning_rate}")
  ids = [v.id for v in dna.vertices] + [e.id for e in dna.edges]
  if len(set(ids)) != len(ids):
    fail("vertex and edge ids must be unique")
  if any(i < 0 or i >= dna.next_id for i in ids):
    fail(f"ids must lie in [0, next_id={dna.next_id})")
  if dna.vertices[0].activation != "linear":
    fail("the input vertex must be linear")
  pos = {v.id: i for i, v in enumerate(dna.vertices)}
  for v in dna.vertices:
    if v.activation not in ACTIVATIONS:
      fail(f"vertex {v.id}: activation {v.activation!r} not in {ACTIVATIONS}")
  backbone_in = {}
  for e in dna.edges:
    if e.kind not in EDGE_KINDS:
      fail(f"edge {e.id}: kind {e.kind!r} not in {EDGE_KINDS}")
    if e.src not in pos or e.dst not in pos:
      fail(f"edge {e.id} connects unknown vertices {e.src}->{e.dst}")
    if pos[e.src] >= pos[e.dst]:
      fail(f"edge {e.id} goes backwards ({e.src}->{e.dst})")
    if e.skip:
      if e.kind != "identity":
        fail(f"skip edge {e.id} must be an identity")
    else:
      if pos[e.dst] != pos[e.src] + 1:
        fail(f"backbone edge {e.id} must join consecutive vertices")
      if e.dst in backbone_in:
        fail(f"vertex {e.dst} has two backbone edges")
      backbone_in[e.dst] = e
    for name in ("filter_h", "filter_w", "stride", "channels"):
      x = getattr(e, name)
      if not (math.isfinite(x) and x > 0):
        fail(f"edge {e.id}: {name} must be a positive number, got {x}")
  for v in dna.vertices[1:]:
    if v.id not in backbone_in:
      fail(f"vertex {v.id} has no backbone edge")
  pairs = [(e.src, e.dst) for e in dna.edges if e.skip]
  if len(set(pairs)) != len(pairs):
    fail("duplicate skip edges")
  return dna
