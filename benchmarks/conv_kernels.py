"""One convolution's forward, filter gradient and input gradient under
XLA:CPU's convolution kernels (`train.conv_kernels`), each its own program.

  python benchmarks/conv_kernels.py [--layers 32x16x16,16x16x35,8x32x32]
      [--batch 50] [--kernels xla,eigen]

A layer is SIZExCINxCOUT (3x3, stride 1, SAME). Prints ms per call (median
of 5 repeats of 20 calls, the kernel sets interleaved) and, per layer, the
largest difference of the filter gradient to the first kernel set's,
relative to its largest entry. Run under `taskset -c 0` for one core.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time

import jax
import jax.numpy as jnp
import numpy as np

from evojax_nas.compile.steps import CONV_KERNELS

DN = ("NHWC", "HWIO", "NHWC")


def _conv(w, h):
  return jax.lax.conv_general_dilated(h, w, (1, 1), "SAME",
                                      dimension_numbers=DN)


def forward(w, h, dy):
  del dy
  return _conv(w, h)


def filter_gradient(w, h, dy):
  return jax.vjp(lambda w: _conv(w, h), w)[1](dy)[0]


def input_gradient(w, h, dy):
  return jax.vjp(lambda h: _conv(w, h), h)[1](dy)[0]


def _ms(fn, args, calls: int = 20) -> float:
  jax.block_until_ready(fn(*args))
  times = []
  for _ in range(5):
    t0 = time.perf_counter()
    for _ in range(calls):
      out = fn(*args)
    jax.block_until_ready(out)
    times.append(1e3 * (time.perf_counter() - t0) / calls)
  return statistics.median(times)


def main(argv=None):
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("--layers", default="32x16x16,16x16x35,8x32x32")
  p.add_argument("--batch", type=int, default=50)
  p.add_argument("--kernels", default=",".join(CONV_KERNELS))
  args = p.parse_args(argv)
  kernels = args.kernels.split(",")
  print(f"{jax.devices()[0].device_kind} ({jax.default_backend()}), JAX "
        f"{jax.__version__}; batch {args.batch}, 3x3 SAME, ms per call")
  print(f"{'layer':>12} {'kernels':>8} {'forward':>8} {'filter grad':>11} "
        f"{'input grad':>10} {'rel diff':>9}")
  for layer in args.layers.split(","):
    size, cin, cout = (int(v) for v in layer.split("x"))
    keys = jax.random.split(jax.random.key(0), 3)
    shapes = ((3, 3, cin, cout), (args.batch, size, size, cin),
              (args.batch, size, size, cout))
    data = [jax.random.normal(k, s) for k, s in zip(keys, shapes)]
    programs = {k: [jax.jit(f).lower(*data).compile(
        compiler_options=dict(CONV_KERNELS[k]) or None)
                    for f in (forward, filter_gradient, input_gradient)]
                for k in kernels}
    rows = {k: [] for k in kernels}
    for _ in range(2):  # interleaved passes; the last one counts
      rows = {k: [_ms(prog, data) for prog in progs]
              for k, progs in programs.items()}
    ref = np.asarray(programs[kernels[0]][1](*data))
    for k in kernels:
      got = np.asarray(programs[k][1](*data))
      rel = float(np.max(np.abs(got - ref)) / np.max(np.abs(ref)))
      f, dw, dh = rows[k]
      print(f"{layer:>12} {k:>8} {f:>8.2f} {dw:>11.2f} {dh:>10.2f} "
            f"{rel:>9.1e}")


if __name__ == "__main__":
  sys.exit(main())
