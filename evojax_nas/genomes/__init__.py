"""Genome encodings and their variation operators (no JAX training, no files).

Names are resolved on first use, so that `evojax_nas.genomes.names` (and the
config, which reads it) loads without JAX.
"""

from evojax_nas import _lazy

_EXPORTS = {
    "DNA": "dna", "Edge": "dna", "GenomeError": "dna", "Vertex": "dna",
    "conv_chain": "dna", "trivial": "dna", "validate": "dna",
    "INHERITS_NOTHING": "mutations", "MUTATIONS": "mutations",
    "inherits_nothing": "mutations", "mutate": "mutations",
    "mutate_many": "mutations", "mutation_probabilities": "mutations",
}

__getattr__ = _lazy.exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
