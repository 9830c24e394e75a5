"""Genome encodings and their variation operators (no JAX training, no files).

Names are resolved on first use, so that `evojax_nas.genomes.names` (and the
config, which reads it) loads without JAX.
"""

import importlib

_EXPORTS = {
    "DNA": "dna", "Edge": "dna", "GenomeError": "dna", "Vertex": "dna",
    "conv_chain": "dna", "trivial": "dna", "validate": "dna",
    "INHERITS_NOTHING": "mutations", "MUTATIONS": "mutations",
    "inherits_nothing": "mutations", "mutate": "mutations",
    "mutate_many": "mutations", "mutation_probabilities": "mutations",
}


def __getattr__(name):
  if name not in _EXPORTS:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"),
                 name)


__all__ = sorted(_EXPORTS)
