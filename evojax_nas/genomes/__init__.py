"""Genome encodings and their variation operators (no JAX training, no files)."""

from evojax_nas.genomes.dna import (DNA, Edge, GenomeError, Vertex, conv_chain,
                                   trivial, validate)
from evojax_nas.genomes.mutations import (INHERITS_NOTHING, MUTATIONS,
                                          inherits_nothing, mutate, mutate_many,
                                          mutation_probabilities)

__all__ = ["DNA", "Edge", "GenomeError", "Vertex", "conv_chain", "trivial",
           "validate",
           "INHERITS_NOTHING", "MUTATIONS", "inherits_nothing", "mutate",
           "mutate_many", "mutation_probabilities"]
