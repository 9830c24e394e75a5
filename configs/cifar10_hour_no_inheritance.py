"""The hour with weight inheritance off (the paper's partial control): every
child trains from fresh weights."""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "cifar10_hour")
  config.weight_inheritance = False
  return config
