"""A genome as a drawable graph, and its drawing (matplotlib, no Graphviz).

`genome_graph` turns any genome of the engine into layered nodes and
labelled edges: for the DNA, vertices with their activations, backbone edges
with their convolution (kernel, stride, channels) or identity, skip edges as
arcs; for Genetic CNN strings, each stage's default and ordinary nodes; for a
NAS-Bench-201 cell, its four nodes and six operations. `draw` lays the nodes
out top to bottom in order and bends every edge that jumps over a node, so
skips are visible as arcs beside the backbone.
"""

from __future__ import annotations

import dataclasses

from evojax_nas import files
from evojax_nas.genomes.dna import DNA
from evojax_nas.genomes.genetic_cnn import GeneticCNN
from evojax_nas.genomes.nb201 import EDGES, OPS, Cell


@dataclasses.dataclass(frozen=True)
class GraphEdge:
  src: str
  dst: str
  label: str
  kind: str  # "conv", "identity", "skip", "op"


@dataclasses.dataclass(frozen=True)
class Graph:
  nodes: tuple[tuple[str, str], ...]   # (key, label) in drawing order
  edges: tuple[GraphEdge, ...]


def _dna_graph(dna: DNA) -> Graph:
  nodes = []
  for i, v in enumerate(dna.vertices):
    act = "BN + ReLU" if v.activation == "bn_relu" else "linear"
    nodes.append((str(v.id), "input" if i == 0 else f"v{v.id}: {act}"))
  nodes += [("gap", "global pool"), ("fc", "linear classifier")]
  edges = []
  for e in dna.edges:
    if e.skip:
      edges.append(GraphEdge(str(e.src), str(e.dst), "skip", kind="skip"))
    elif e.kind == "conv":
      kh, kw = e.kernel_size
      edges.append(GraphEdge(str(e.src), str(e.dst),
                             f"conv {kh}x{kw} /{e.stride_int}, "
                             f"{e.out_channels} ch", kind="conv"))
    else:
      edges.append(GraphEdge(str(e.src), str(e.dst), "identity",
                             kind="identity"))
  edges += [GraphEdge(str(dna.output_id), "gap", "", kind="identity"),
            GraphEdge("gap", "fc", "", kind="identity")]
  return Graph(tuple(nodes), tuple(edges))


def _genetic_cnn_graph(g: GeneticCNN) -> Graph:
  nodes, edges, prev = [("in", "input")], [], "in"
  for s, (stage, width) in enumerate(zip(g.decode(), g.widths), 1):
    first = f"s{s}n0"
    nodes.append((first, f"stage {s} input: conv {width} ch"))
    edges.append(GraphEdge(prev, first, "" if s == 1 else "max-pool /2",
                           kind="identity"))
    last = first
    if stage.nodes:
      for node, inputs in stage.nodes:
        key = f"s{s}n{node}"
        nodes.append((key, f"s{s} node {node}: conv {width} ch"))
        for i in inputs:
          edges.append(GraphEdge(f"s{s}n{i}", key, "", kind="op"))
      last = f"s{s}n{max(n for n, _ in stage.nodes) + 1}"
      nodes.append((last, f"stage {s} output: conv {width} ch"))
      for o in stage.outputs:
        edges.append(GraphEdge(f"s{s}n{o}", last, "", kind="op"))
    prev = last
  nodes.append(("fc", f"max-pool, FC{g.fc_width}, dropout, FC"))
  edges.append(GraphEdge(prev, "fc", "", kind="identity"))
  return Graph(tuple(nodes), tuple(edges))


def _nb201_graph(cell: Cell) -> Graph:
  nodes = tuple((str(i), "cell input" if i == 0 else f"node {i}")
                for i in range(4))
  edges = tuple(GraphEdge(str(s), str(d), OPS[o], kind="op")
                for o, (s, d) in zip(cell.ops, EDGES) if OPS[o] != "none")
  return Graph(nodes, edges)


def genome_graph(genome) -> Graph:
  if isinstance(genome, DNA):
    return _dna_graph(genome)
  if isinstance(genome, GeneticCNN):
    return _genetic_cnn_graph(genome)
  if isinstance(genome, Cell):
    return _nb201_graph(genome)
  raise TypeError(f"cannot draw a {type(genome).__name__}")


_COLOURS = {"conv": "#1f77b4", "identity": "#555555", "skip": "#d62728",
            "op": "#2ca02c"}


def draw(genome, path, title: str = ""):
  """Writes the architecture drawing of `genome` to `path` (PNG)."""
  from matplotlib.figure import Figure  # pylint: disable=import-outside-toplevel
  from matplotlib.patches import FancyArrowPatch  # pylint: disable=import-outside-toplevel

  graph = genome_graph(genome)
  y = {key: -i for i, (key, _) in enumerate(graph.nodes)}
  height = max(3.0, 0.75 * len(graph.nodes) + 1)
  fig = Figure(figsize=(7.5, height))
  ax = fig.subplots()
  for key, label in graph.nodes:
    ax.text(0, y[key], label, ha="center", va="center", fontsize=9,
            bbox=dict(boxstyle="round,pad=0.35", fc="#f3f3f3", ec="#333333"))
  bends: dict[int, int] = {}
  for e in graph.edges:
    y0, y1 = y[e.src], y[e.dst]
    jump = abs(y1 - y0) > 1
    colour = _COLOURS[e.kind]
    if jump:  # arcs to the right, nested by span
      span = abs(y1 - y0)
      bends[span] = bends.get(span, 0) + 1
      rad = -0.25 - 0.08 * bends[span]
      arrow = FancyArrowPatch((0.9, y0), (0.9, y1), arrowstyle="-|>",
                              mutation_scale=10, color=colour, lw=1.4,
                              connectionstyle=f"arc3,rad={rad}")
      ax.add_patch(arrow)
      if e.label:
        ax.text(1.05 + 0.25 * bends[span], (y0 + y1) / 2, e.label,
                color=colour, fontsize=8, va="center")
    else:
      ax.annotate("", xy=(0, y1 + 0.25), xytext=(0, y0 - 0.25),
                  arrowprops=dict(arrowstyle="-|>", color=colour, lw=1.4))
      if e.label:
        ax.text(0.08, (y0 + y1) / 2, e.label, color=colour, fontsize=8,
                va="center")
  ax.set_xlim(-2.2, 2.6)
  ax.set_ylim(-len(graph.nodes) + 0.4, 0.6)
  ax.axis("off")
  if title:
    ax.set_title(title, fontsize=10)
  fig.tight_layout()
  files.save_figure(fig, path, dpi=90)
  return path
