"""Genetic CNN on CIFAR-10 with the paper's values (Xie & Yuille 2017, 4.1).

N = 20 individuals, T = 50 generations after the random generation 0, S = 3
stages of K = (3, 4, 5) nodes, p_M = 0.8, q_M = 0.05, p_C = 0.2, q_C = 0.2,
the LeNet-like base (stage widths 8, 8, 16; FC32, dropout 0.5), every
individual trained from scratch (no weight inheritance) and re-evaluated
when it survives unchanged. 10,000 of the 50,000 training images are held
out for validation. Each individual trains 240 epochs of the remaining
40,000 at batch 50 with the paper's stepped learning rate: 1e-2 for 120
epochs, 1e-3 for 60, 1e-4 for 40 and 1e-5 for the last 20. The result is
the member of the last generation with the highest fitness (validation
accuracy averaged over its string's evaluations).
"""

from evojax_nas.config import default_config

# From this fraction of an individual's steps on, 1e-2 × this factor:
# epochs 120, 180 and 220 of 240.
PAPER_LR_SCHEDULE = ((120 / 240, 0.1), (180 / 240, 0.01), (220 / 240, 0.001))


def get_config():
  config = default_config()
  config.strategy = "genetic"
  config.search_space = "genetic_cnn"
  config.population_size = 20
  config.max_generations = 50
  config.weight_inheritance = False
  config.initial_learning_rate = 0.01
  config.data.val_size = 10_000
  config.steps_per_individual = 240 * 40_000 // 50
  config.train.lr_schedule = PAPER_LR_SCHEDULE
  config.evaluate_test = "all"  # table 1 reports test accuracy per generation
  config.genetic.update(dict(p_mutation=0.8, q_mutation=0.05, p_crossover=0.2,
                             q_crossover=0.2))
  config.genetic_cnn.update(dict(nodes=(3, 4, 5), widths=(8, 8, 16),
                                 fc_width=32, dropout=0.5))
  return config
