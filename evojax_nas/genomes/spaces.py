"""Search spaces: what the experiment runner needs to know of a genome type.

A space creates initial genomes, mutates one for the steady-state
strategies, and, where genomes are fixed-length strings, converts them to and
from gene arrays for the genetic algorithm. Keys are explicit; genomes are
frozen values.
"""

from __future__ import annotations

import dataclasses

import jax
import numpy as np

from evojax_nas.genomes import genetic_cnn, nb201, nb201_codes, strings
from evojax_nas.genomes.dna import DNA, trivial
from evojax_nas.genomes.mutations import (inherits_nothing, mutate_many,
                                          mutation_probabilities,
                                          mutations_for)


def _rng(key: jax.Array) -> np.random.Generator:
  return np.random.default_rng(np.asarray(jax.random.key_data(key)).ravel())


class DNASpace:
  """Large-Scale Evolution: trivial start, the eleven mutations."""
  name = "dna"
  strings = False

  def __init__(self, config):
    self.config = config
    self.probabilities = mutation_probabilities(dict(config.mutations))
    self.mutations = mutations_for(config.insert_width)

  def initial(self, key: jax.Array) -> DNA:
    del key
    return trivial(self.config.initial_learning_rate)

  def mutate(self, genome: DNA, key: jax.Array, count: int | None = None,
             weights: dict[str, float] | None = None) -> tuple[DNA, str]:
    """`count` mutations (default: the config's) drawn from `weights`
    (default: the config's relative mutation weights)."""
    p = self.probabilities if weights is None else mutation_probabilities(
        weights)
    return mutate_many(genome, key, count or self.config.mutations_per_child,
                       p, self.mutations)

  def inherits_nothing(self, mutation: str) -> bool:
    return inherits_nothing(mutation)


@dataclasses.dataclass(frozen=True)
class StringLayout:
  unit: np.ndarray   # crossover unit of every gene
  num_units: int
  alphabet: int


class GeneticCNNSpace:
  """Genetic CNN: Bernoulli(0.5) strings, bit flips, stage crossover."""
  name = "genetic_cnn"
  strings = True

  def __init__(self, config):
    g = config.genetic_cnn
    self.kwargs = dict(nodes=tuple(g.nodes), widths=tuple(g.widths),
                       fc_width=g.fc_width, dropout=g.dropout,
                       learning_rate=config.initial_learning_rate)
    self.q_mutation = config.genetic.q_mutation
    probe = genetic_cnn.random_genome(np.random.default_rng(0), **self.kwargs)
    self.layout = StringLayout(probe.unit(), len(probe.nodes), 2)

  def initial(self, key: jax.Array) -> genetic_cnn.GeneticCNN:
    return genetic_cnn.random_genome(_rng(key), **self.kwargs)

  def genes(self, genome) -> np.ndarray:
    return np.asarray(genome.bits, np.int32)

  def from_genes(self, genes) -> genetic_cnn.GeneticCNN:
    return genetic_cnn.GeneticCNN(bits=tuple(int(b) for b in genes),
                                  **self.kwargs)

  def mutate(self, genome, key: jax.Array, count=None, weights=None):
    del count, weights
    genes = strings.mutate(key, self.genes(genome), self.q_mutation, 2)
    return self.from_genes(np.asarray(genes)), "bit_flip"

  def inherits_nothing(self, mutation: str) -> bool:
    del mutation
    return False


class NB201Space:
  """NAS-Bench-201 cells trained for real in the benchmark's skeleton."""
  name = "nb201"
  strings = True

  def __init__(self, config):
    c = config.nb201
    self.kwargs = dict(channels=c.channels, cells_per_stage=c.cells_per_stage,
                       learning_rate=config.initial_learning_rate)
    self.layout = StringLayout(np.arange(nb201.NUM_EDGES), nb201.NUM_EDGES,
                               len(nb201.OPS))

  def initial(self, key: jax.Array) -> nb201.Cell:
    return self.from_genes(nb201_codes.decode(nb201_codes.random_code(key)))

  def genes(self, genome) -> np.ndarray:
    return np.asarray(genome.ops, np.int32)

  def from_genes(self, genes) -> nb201.Cell:
    return nb201.Cell(tuple(int(g) for g in np.asarray(genes)), **self.kwargs)

  def mutate(self, genome, key: jax.Array, count=None, weights=None):
    del count, weights
    code = nb201_codes.mutate_code(key, genome.code)
    return self.from_genes(nb201_codes.decode(code)), "alter_op"

  def inherits_nothing(self, mutation: str) -> bool:
    del mutation
    return False


SPACES = {"dna": DNASpace, "genetic_cnn": GeneticCNNSpace, "nb201": NB201Space}


def make(name: str, config):
  if name not in SPACES:
    raise ValueError(f"unknown search space {name!r}; valid choices: "
                     f"{sorted(SPACES)}")
  return SPACES[name](config)
