"""A CPU demo of Genetic CNN on real CIFAR-10: about 10 minutes on 2 cores.

The paper's algorithm and encoding (`genetic_cnn_cifar10.py`) with a
population of 8, 4 generations after generation 0, and 300 SGD steps per
individual at learning rate 0.05 (momentum 0.9, batch 50). Watch the
per-generation table in the log (and `results.json["generations"]`).
Needs the data: --config.data.dir=FOLDER or $EVOJAX_NAS_DATA_DIR.
"""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "genetic_cnn_cifar10")
  config.population_size = 8
  config.max_generations = 4
  config.steps_per_individual = 300
  config.initial_learning_rate = 0.05
  config.train.chunk_steps = 2
  return config
