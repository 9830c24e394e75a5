"""Genome encodings and their variation operators (no JAX training, no files).

The package re-exports nothing, so that its plain-Python modules load
without JAX: the genomes themselves (`dna`, `genetic_cnn`, `nb201`,
`formats`: read by the report and the log's check) and `names`, `escape`
(read by the config). Import from the modules,
e.g. `from evojax_nas.genomes.dna import DNA` and
`from evojax_nas.genomes.mutations import mutate`.
"""
