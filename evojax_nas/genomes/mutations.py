"""The eleven mutations of Large-Scale Evolution (Real et al. 2017, 3.2).

Each mutation is a pure function `(dna, rng) -> DNA | None`; `None` means it
cannot apply to this DNA (e.g. REMOVE-CONVOLUTION without a convolution) and
`mutate` picks again. Numerical parameters are resampled uniformly between
half and twice their value. Randomness comes from an explicit JAX key, turned
into a NumPy generator once per call (mutations are small Python graph edits,
not array programs).
"""

from __future__ import annotations

from typing import Callable, Mapping

import jax
import numpy as np

from evojax_nas.genomes.dna import DNA, Edge, Vertex, validate
from evojax_nas.genomes.names import INSERT_WIDTHS, MUTATION_NAMES

Mutation = Callable[[DNA, np.random.Generator], "DNA | None"]


def _scale(rng: np.random.Generator, x: float) -> float:
  return float(rng.uniform(0.5 * x, 2.0 * x))


def _replace_edge(dna: DNA, edge: Edge) -> DNA:
  return dna.replace(edges=tuple(edge if e.id == edge.id else e
                                 for e in dna.edges))


def alter_learning_rate(dna, rng):
  return dna.replace(learning_rate=_scale(rng, dna.learning_rate))


def identity(dna, rng):
  """Keep training: same DNA, weights inherited in full."""
  del rng
  return dna


def reset_weights(dna, rng):
  """Same DNA; the trainer inherits nothing (see `INHERITS_NOTHING`)."""
  del rng
  return dna


def _insert(dna: DNA, rng, kind: str, width: str = "input") -> DNA:
  """Splits the backbone after a random vertex with a new vertex and edge."""
  pos = int(rng.integers(len(dna.vertices)))
  src = dna.vertices[pos]
  shapes = dna.shapes()
  channels = shapes[src.id][2]
  if width == "output" and pos + 1 < len(dna.vertices):
    channels = shapes[dna.vertices[pos + 1].id][2]
  new_v = Vertex(id=dna.next_id,
                 activation=("bn_relu", "linear")[int(rng.integers(2))])
  new_e = Edge(id=dna.next_id + 1, src=src.id, dst=new_v.id, kind=kind,
               skip=False, filter_h=3.0, filter_w=3.0,
               stride=float(1 + rng.integers(2)) if kind == "conv" else 1.0,
               channels=float(channels))
  # The backbone edge that left `src` now leaves the new vertex; skips from
  # `src` still leave `src`.
  edges = tuple(e.replace(src=new_v.id) if e.src == src.id and not e.skip
                else e for e in dna.edges)
  vertices = dna.vertices[:pos + 1] + (new_v,) + dna.vertices[pos + 1:]
  return dna.replace(vertices=vertices, edges=edges + (new_e,),
                     next_id=dna.next_id + 2)


def insert_convolution(dna, rng):
  """A 3x3 conv, stride 1 or 2, as many channels as its input, BN+ReLU or not."""
  return _insert(dna, rng, "conv")


def insert_convolution_output_width(dna, rng):
  """INSERT-CONVOLUTION with as many channels as the layer it feeds."""
  return _insert(dna, rng, "conv", width="output")


def insert_one_to_one(dna, rng):
  """An identity connection with a new activation vertex."""
  return _insert(dna, rng, "identity")


def remove_convolution(dna, rng):
  """Removes a backbone conv and the vertex it fed; that vertex's outputs
  now leave the conv's source, skips into it are redirected there."""
  convs = [e for e in dna.edges if e.kind == "conv"]
  if not convs:
    return None
  conv = convs[int(rng.integers(len(convs)))]
  src, gone = conv.src, conv.dst
  edges, seen = [], set()
  for e in dna.edges:
    if e.id == conv.id:
      continue
    if e.src == gone:
      e = e.replace(src=src)
    if e.dst == gone:  # a skip into the removed vertex
      if e.src == src:
        continue
      e = e.replace(dst=src)
    if e.skip:
      if (e.src, e.dst) in seen:
        continue
      seen.add((e.src, e.dst))
    edges.append(e)
  return dna.replace(vertices=tuple(v for v in dna.vertices if v.id != gone),
                     edges=tuple(edges))


def _random_conv(dna, rng):
  convs = dna.convolutions
  return convs[int(rng.integers(len(convs)))] if convs else None


def alter_stride(dna, rng):
  """Half to twice the stride; the network rounds its log2 (powers of 2)."""
  conv = _random_conv(dna, rng)
  if conv is None:
    return None
  return _replace_edge(dna, conv.replace(stride=max(1.0,
                                                    _scale(rng, conv.stride))))


def alter_number_of_channels(dna, rng):
  conv = _random_conv(dna, rng)
  if conv is None:
    return None
  return _replace_edge(dna, conv.replace(channels=_scale(rng, conv.channels)))


def filter_size(dna, rng):
  """Horizontal or vertical size of a random conv; odd values only."""
  conv = _random_conv(dna, rng)
  if conv is None:
    return None
  if rng.integers(2):
    return _replace_edge(dna, conv.replace(filter_h=_scale(rng, conv.filter_h)))
  return _replace_edge(dna, conv.replace(filter_w=_scale(rng, conv.filter_w)))


def add_skip(dna, rng):
  """An identity from a vertex to any later one not already joined by a skip."""
  existing = {(e.src, e.dst) for e in dna.skip_edges}
  ids = [v.id for v in dna.vertices]
  pairs = [(ids[i], ids[j]) for i in range(len(ids))
           for j in range(i + 1, len(ids)) if (ids[i], ids[j]) not in existing]
  if not pairs:
    return None
  src, dst = pairs[int(rng.integers(len(pairs)))]
  skip = Edge(id=dna.next_id, src=src, dst=dst, kind="identity", skip=True)
  return dna.replace(edges=dna.edges + (skip,), next_id=dna.next_id + 1)


def remove_skip(dna, rng):
  skips = dna.skip_edges
  if not skips:
    return None
  gone = skips[int(rng.integers(len(skips)))]
  return dna.replace(edges=tuple(e for e in dna.edges if e.id != gone.id))


MUTATIONS: Mapping[str, Mutation] = {
    "alter_learning_rate": alter_learning_rate,
    "identity": identity,
    "reset_weights": reset_weights,
    "insert_convolution": insert_convolution,
    "remove_convolution": remove_convolution,
    "alter_stride": alter_stride,
    "alter_number_of_channels": alter_number_of_channels,
    "filter_size": filter_size,
    "insert_one_to_one": insert_one_to_one,
    "add_skip": add_skip,
    "remove_skip": remove_skip,
}
if tuple(MUTATIONS) != MUTATION_NAMES:  # names.py lists them for the config
  raise ImportError("genomes/names.py and MUTATIONS disagree")

# Mutations after which the child starts from fresh weights.
INHERITS_NOTHING = frozenset({"reset_weights", "population_reset"})


def mutation_probabilities(weights: Mapping[str, float] | None = None
                           ) -> np.ndarray:
  """Normalised probabilities in `MUTATIONS` order; uniform by default (the
  paper did not tune them). Unknown names raise ValueError."""
  if not weights:
    return np.full(len(MUTATIONS), 1.0 / len(MUTATIONS))
  unknown = sorted(set(weights) - set(MUTATIONS))
  if unknown:
    raise ValueError(f"unknown mutation(s) {unknown}; valid choices: "
                     f"{sorted(MUTATIONS)}")
  p = np.array([float(weights.get(name, 0.0)) for name in MUTATIONS])
  if (p < 0).any() or p.sum() <= 0:
    raise ValueError("mutation weights must be non-negative with a positive "
                     f"sum, got {dict(weights)}")
  return p / p.sum()


def mutations_for(insert_width: str = "input") -> Mapping[str, Mutation]:
  """The eleven mutations with INSERT-CONVOLUTION's width rule
  (`INSERT_WIDTHS`); ValueError names the valid choices."""
  if insert_width not in INSERT_WIDTHS:
    raise ValueError(f"unknown insert width {insert_width!r}; valid choices: "
                     f"{list(INSERT_WIDTHS)}")
  if insert_width == "input":
    return MUTATIONS
  return {**MUTATIONS, "insert_convolution": insert_convolution_output_width}


def mutate_many(dna: DNA, key: jax.Array, count: int = 1,
                probabilities: np.ndarray | None = None,
                mutations: Mapping[str, Mutation] = MUTATIONS
                ) -> tuple[DNA, str]:
  """`count` successive mutations (a raised mutation rate, Real et al. 2017
  section 5); the name joins theirs with '+'."""
  names = []
  for i in range(count):
    dna, name = mutate(dna, jax.random.fold_in(key, i), probabilities,
                       mutations)
    names.append(name)
  return dna, "+".join(names)


def inherits_nothing(mutation: str) -> bool:
  """Whether a (possibly joined) mutation name means fresh weights."""
  return any(m in INHERITS_NOTHING for m in mutation.split("+"))


def mutate(dna: DNA, key: jax.Array,
           probabilities: np.ndarray | None = None,
           mutations: Mapping[str, Mutation] = MUTATIONS) -> tuple[DNA, str]:
  """Applies one mutation drawn from `probabilities`; returns (child, name).

  A mutation that cannot apply is redrawn. The identity mutation always
  applies, so this terminates whenever it has positive probability; otherwise
  after 100 fruitless draws it raises.
  """
  p = mutation_probabilities() if probabilities is None else probabilities
  rng = np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())
  names = list(MUTATIONS)
  for _ in range(100):
    name = names[int(rng.choice(len(names), p=p))]
    child = mutations[name](dna, rng)
    if child is not None:
      return validate(child), name
  raise ValueError("no mutation with positive probability applies to this "
                   f"genome: {dna.describe()}")
