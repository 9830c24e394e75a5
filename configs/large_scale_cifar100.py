"""Large-Scale Evolution on CIFAR-100: identical to CIFAR-10 but the data set
(the paper changed nothing else)."""

from evojax_nas.config import default_config


def get_config():
  config = default_config()
  config.data.name = "cifar100"
  return config
