"""Experiments: the reproduction loop on its two population backends, budgets,
the log, workers, resumption and the end of a run.

Names are resolved on first use, so that light modules of this package
(`escape`, read by the config) load without JAX.
"""

import importlib

_EXPORTS = {"Experiment": "runner", "Model": "export",
            "load_model": "export", "run": "dispatch"}


def __getattr__(name):
  if name not in _EXPORTS:
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
  return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"),
                 name)


__all__ = sorted(_EXPORTS)
