"""Errors raised below the layer that defines their subject, or read by
layers that must not load it: the trainer refuses a config (`ConfigError`)
without importing the config module, and a report explains a bad genome
(`GenomeError`) without loading the genomes' mutations. `config.ConfigError`
and `genomes.dna.GenomeError` are these classes."""


class ConfigError(ValueError):
  """A config with an unknown key or an invalid value."""


class GenomeError(ValueError):
  """A genome that is not valid (bad JSON, broken graph, bad values)."""
