"""Large-Scale Evolution's meta-parameter study (Real et al. 2017, figure 3)
sized for a 2-core CPU: one experiment is about 3 minutes.

The demo's settings (growth-favouring mutation probabilities, two mutations
per child, overlap inheritance) with a population of 8, 100 steps per
individual and a budget of 4,800 training steps in all (48 individuals at
100 steps): every experiment of a sweep gets the same training compute, as
the paper's got the same wall-clock time. Sweep it:

  evojax_nas sweep --config configs/figure3_cpu.py \
      --grid population_size=2,8,24 --seeds 2 --workdir /tmp/fig3_population
  evojax_nas sweep --config configs/figure3_cpu.py \
      --grid steps_per_individual=50,100,200 --seeds 2 --workdir /tmp/fig3_steps

Needs the data: --config.data.dir=FOLDER or $EVOJAX_NAS_DATA_DIR.
"""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "cifar10_demo")
  config.final.fraction = 0.0  # the study compares searches alone
  config.population_size = 8
  config.steps_per_individual = 100
  config.time_budget_s = 0.0
  config.max_steps = 4800
  config.progress = False
  config.tensorboard = False
  return config
