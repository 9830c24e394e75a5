"""FLOPs and parameters of every NAS-Bench-201 network, from our counter.

Counted as NAS-Bench-201 states its costs: multiply-accumulates of
the convolutions and the classifier (compile/flops.py's conv and dot FLOPs
/ 2), and every trainable parameter (convolutions, the classifier, batch
norms' scale and bias), for one 32×32 (or 16×16) image. A network is the
fixed skeleton plus one cell repeated; every edge of the cell contributes
its operation's cost independently of the others, so the costs of all
15,625 cells follow from six counted networks (all edges "none", and one
edge of each other operation); `tests/test_nasbench.py` checks that sum
against the counter on whole networks, and the extremes against a count
by hand (CIFAR-10: 7.783 to 220.120 MFLOPs, 0.0733 to 1.5315 M
parameters). The benchmark's own cost table is not in the shared data, so
the counts are not checked cell by cell against it.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np

from evojax_nas.compile import flops as flops_lib
from evojax_nas.compile.nb201_network import NB201Net
from evojax_nas.genomes import nb201, nb201_codes

COSTS = ("flops", "params")


def network_costs(ops, num_classes: int = 10, image_size: int = 32
                  ) -> dict[str, float]:
  """MFLOPs (multiply-accumulates) and millions of parameters of the
  benchmark's network with cell `ops`, counted from its jaxpr."""
  net = NB201Net(tuple(int(o) for o in ops), num_classes)
  x = jax.ShapeDtypeStruct((1, image_size, image_size, 3), jnp.float32)
  variables = jax.eval_shape(lambda k, x: net.init(k, x), jax.random.key(0), x)
  kinds = flops_lib.count_flops_by_kind(
      lambda v, x: net.apply(v, x, train=False), variables, x)
  return {"flops": (kinds.get("conv", 0) + kinds.get("dot", 0)) / 2 / 1e6,
          "params": flops_lib.count_params(variables) / 1e6}


@functools.lru_cache(maxsize=None)
def cell_costs(num_classes: int = 10, image_size: int = 32
               ) -> dict[str, np.ndarray]:
  """{"flops", "params"} -> float64 [NUM_CELLS], indexed by `Cell.code`."""
  none = nb201.OPS.index("none")
  base = network_costs([none] * nb201.NUM_EDGES, num_classes, image_size)
  per_op = {k: np.zeros(len(nb201.OPS)) for k in COSTS}
  for op in range(len(nb201.OPS)):
    if op != none:
      one = network_costs([op] + [none] * (nb201.NUM_EDGES - 1), num_classes,
                          image_size)
      for k in COSTS:
        per_op[k][op] = one[k] - base[k]
  # [cells, 6]
  ops = np.asarray(nb201_codes.decode(jnp.arange(nb201.NUM_CELLS)))
  return {k: base[k] + per_op[k][ops].sum(axis=1) for k in COSTS}
