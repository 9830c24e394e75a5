"""FLOPs counted analytically from a jaxpr (the paper's section 3.5).

Convolutions and matrix products count 2 FLOPs per multiply-accumulate
(skipping the zeros a transposed convolution dilates its input with);
elementwise arithmetic (and dtype conversion, as XLA counts it) and
reductions count one FLOP per output (resp. input) element; data movement
(reshape, slice, gather, pad, broadcast...) counts nothing. Sub-jaxprs (jit, custom_jvp/vjp, scan x length, cond's most
expensive branch) are walked recursively.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import Any, Callable

import jax

_ELEMENTWISE = frozenset("""
add sub mul div neg max min abs exp exp2 log log1p tanh logistic rsqrt sqrt
pow integer_pow square sign floor ceil round select_n erf erf_inv expm1 sin
cos rem nextafter atan2 clamp add_any convert_element_type
""".split())
_REDUCTIONS = frozenset("reduce_sum reduce_max reduce_min argmax argmin "
                        "reduce_prod cumsum cumlogsumexp cummax".split())


def _size(aval) -> int:
  return int(math.prod(getattr(aval, "shape", ())))


def _conv_flops(eqn) -> int:
  lhs, rhs = (v.aval for v in eqn.invars[:2])
  out = eqn.outvars[0].aval
  dn = eqn.params["dimension_numbers"]
  rhs_spec = dn.rhs_spec  # (out feature dim, in feature dim, *spatial)
  kernel_spatial = math.prod(rhs.shape[d] for d in rhs_spec[2:])
  in_per_group = rhs.shape[rhs_spec[1]]
  del lhs
  # A transposed conv (the input gradient of a strided conv) dilates its
  # input with zeros: only 1 / prod(lhs_dilation) of the taps do work.
  dilation = math.prod(eqn.params.get("lhs_dilation") or (1,))
  return 2 * _size(out) * kernel_spatial * in_per_group // dilation


def _dot_flops(eqn) -> int:
  lhs, _ = (v.aval for v in eqn.invars[:2])
  (contract_lhs, _), _ = eqn.params["dimension_numbers"]
  k = math.prod(lhs.shape[d] for d in contract_lhs)
  return 2 * _size(eqn.outvars[0].aval) * k


def _sub_jaxprs(eqn) -> list[tuple[Any, int]]:
  """(jaxpr, multiplicity) pairs nested in an equation."""
  p = eqn.params
  name = eqn.primitive.name
  if name == "scan":
    return [(p["jaxpr"], int(p["length"]))]
  if name == "cond":
    return [(max(p["branches"], key=count_jaxpr), 1)]
  found = []
  for key in ("jaxpr", "call_jaxpr", "fun_jaxpr", "body_jaxpr"):
    if key in p:
      found.append((p[key], 1))
  return found


def count_jaxpr_by_kind(jaxpr) -> Counter:
  """FLOPs of a (Closed)Jaxpr by kind: "conv", "dot" (2 per MAC),
  "elementwise", "reduction"."""
  if not hasattr(jaxpr, "eqns"):  # a ClosedJaxpr
    jaxpr = jaxpr.jaxpr
  total = Counter()
  for eqn in jaxpr.eqns:
    name = eqn.primitive.name
    if name == "conv_general_dilated":
      total["conv"] += _conv_flops(eqn)
    elif name == "dot_general":
      total["dot"] += _dot_flops(eqn)
    elif name in _ELEMENTWISE:
      total["elementwise"] += _size(eqn.outvars[0].aval)
    elif name in _REDUCTIONS:
      total["reduction"] += _size(eqn.invars[0].aval)
    else:
      for sub, times in _sub_jaxprs(eqn):
        for kind, n in count_jaxpr_by_kind(sub).items():
          total[kind] += times * n
  return total


def count_jaxpr(jaxpr) -> int:
  """Total FLOPs of a (Closed)Jaxpr."""
  return sum(count_jaxpr_by_kind(jaxpr).values())


def count_params(variables) -> int:
  """Trainable parameters of a network's variables (arrays or their
  ShapeDtypeStructs): every leaf of the "params" collection."""
  return sum(math.prod(leaf.shape)
             for leaf in jax.tree.leaves(variables["params"]))


def count_flops(fn: Callable, *args, **kwargs) -> int:
  """FLOPs of one call of `fn`; arguments may be ShapeDtypeStructs."""
  return count_jaxpr(jax.make_jaxpr(fn, **kwargs)(*args))


def count_flops_by_kind(fn: Callable, *args, **kwargs) -> dict[str, int]:
  return dict(count_jaxpr_by_kind(jax.make_jaxpr(fn, **kwargs)(*args)))
