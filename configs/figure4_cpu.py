"""Escaping local optima (Real et al. 2017, figure 4 and section S3) sized
for a 2-core CPU: one experiment is about 3 minutes.

A small population (4), one mutation per child and 100 steps per
individual, so that a population gets trapped; a budget of 4,800 training
steps. The sweep compares no escape, a period of raised mutation rate
(children 24 to 35 get 5 mutations each) and a population-wide weight
reset after 24 trained individuals (every alive individual retrains from
fresh weights, costing its training steps):

  evojax_nas sweep --config configs/figure4_cpu.py \
      --grid "escape.mutation_rate_schedule='',24-36:5" \
      --grid "escape.reset_population_at=(),(24,)" --seeds 2 \
      --workdir /tmp/fig4_escape

Needs the data: --config.data.dir=FOLDER or $EVOJAX_NAS_DATA_DIR.
"""

from evojax_nas.config import sibling_config


def get_config():
  config = sibling_config(__file__, "figure3_cpu")
  config.population_size = 4
  config.mutations_per_child = 1
  return config
