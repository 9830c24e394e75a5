"""Large-Scale Evolution on CIFAR-10 with the paper's values (Real et al. 2017):
population 1000, 25,600 steps of SGD (momentum 0.9, batch 50, weight decay
1e-4) per individual, trivial initial models at learning rate 0.1, pairwise
tournament selection, weight inheritance, uniform mutation probabilities.
The paper ran ~250 workers for days; set a budget for your hardware.
"""

from evojax_nas.config import default_config


def get_config():
  return default_config()
