"""A CPU demo of Genetic CNN on real CIFAR-10: about 9 minutes on 2 cores.

The paper's algorithm, encoding, split and learning-rate rule
(`genetic_cnn_cifar10.py`) with a population of 6, 3 generations after
generation 0, and 400 SGD steps per individual (momentum 0.9, batch 50):
the stepped schedule scales with them, 1e-2 for steps 0-199, 1e-3 for
200-299, 1e-4 for 300-366, 1e-5 for 367-399. Watch the per-generation
table in the log (and `results.json["generations"]`).
Needs the data: --config.data.dir=FOLDER or $EVOJAX_NAS_DATA_DIR.
"""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "genetic_cnn_cifar10")
  config.population_size = 6
  config.max_generations = 3
  config.steps_per_individual = 400
  config.train.chunk_steps = 2
  return config
