"""Genetic CNN on CIFAR-10 with the paper's values (Xie & Yuille 2017, 4.1).

N = 20 individuals, T = 50 generations after the random generation 0, S = 3
stages of K = (3, 4, 5) nodes, p_M = 0.8, q_M = 0.05, p_C = 0.2, q_C = 0.2,
the LeNet-like base (stage widths 8, 8, 16; FC32, dropout 0.5), every
individual trained from scratch (no weight inheritance) and re-evaluated
when it survives unchanged. The paper trains 240 epochs with a stepped
learning rate from 0.01; here a constant 0.01 for the same number of steps
(240 epochs of 45k images at batch 50).
"""

from evojax_nas.config import default_config


def get_config():
  config = default_config()
  config.strategy = "genetic"
  config.search_space = "genetic_cnn"
  config.population_size = 20
  config.max_generations = 50
  config.weight_inheritance = False
  config.initial_learning_rate = 0.01
  config.steps_per_individual = 240 * 45000 // 50
  config.evaluate_test = "all"  # table 1 reports test accuracy per generation
  config.genetic.update(dict(p_mutation=0.8, q_mutation=0.05, p_crossover=0.2,
                             q_crossover=0.2))
  config.genetic_cnn.update(dict(nodes=(3, 4, 5), widths=(8, 8, 16),
                                 fc_width=32, dropout=0.5))
  return config
