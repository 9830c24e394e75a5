"""A CPU demo of multi-objective evolution on real CIFAR-10: accuracy
against FLOPs, about 15 minutes on 2 cores.

The demo's Large-Scale Evolution settings (cifar10_demo.py: trivial initial
models, the eleven mutations favouring growth, two per child, overlapping
inheritance, 300 steps per individual, an 800 s budget) with the selection
of multi-objective regularized evolution: aging, and a sample of 3 compared
by Pareto rank in (validation accuracy, FLOPs per image), then crowding
distance (strategies/pareto.py), in a population of 8 (with 10, the most
accurate models stayed cheaper: a front spanning 7.6× in FLOPs instead of
12× on the same budget). The run answers with its Pareto front
(results.json's "pareto_front", each member exported to
WORKDIR/models/<id>) beside the most accurate model.
Needs the data: --config.data.dir=FOLDER or $EVOJAX_NAS_DATA_DIR.
"""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "cifar10_demo")
  config.final.fraction = 0.0  # the answer is the front, as searched
  config.strategy = "aging"
  config.population_size = 8
  config.sample_size = 3
  config.objectives = ("accuracy", "flops")
  config.objective_mode = "pareto"
  return config
