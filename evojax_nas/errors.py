"""Errors raised below the layer that defines their subject: the trainer
refuses a config (`ConfigError`) without importing the config module.
`config.ConfigError` is this class."""


class ConfigError(ValueError):
  """A config with an unknown key or an invalid value."""
