"""Genome encodings and their variation operators (no JAX training, no files).

The package re-exports nothing, so that its plain-Python modules (`names`,
`escape`, read by the config) load without JAX: import from the modules,
e.g. `from evojax_nas.genomes.dna import DNA` and
`from evojax_nas.genomes.mutations import mutate`.
"""
