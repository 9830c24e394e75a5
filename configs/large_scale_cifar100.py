"""Large-Scale Evolution on CIFAR-100: identical to CIFAR-10 but the data set
(the paper changed nothing else)."""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "large_scale_cifar10")
  config.data.name = "cifar100"
  return config
