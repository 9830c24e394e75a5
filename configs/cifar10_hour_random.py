"""The hour's random-search control (Real et al. 2017, section 4): selection
disabled, so random individuals reproduce and random ones die. Same budget,
mutations and training as `cifar10_hour.py`."""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "cifar10_hour")
  config.strategy = "random"
  return config
