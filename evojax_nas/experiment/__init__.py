"""Experiments: the reproduction loop on its two population backends, budgets,
the log, workers, resumption and the end of a run.

Names are resolved on first use, so that light modules of this package
(`escape`, read by the config) load without JAX.
"""

from evojax_nas import _lazy

_EXPORTS = {"Experiment": "runner", "Model": "export",
            "load_model": "export", "run": "dispatch"}

__getattr__ = _lazy.exports(__name__, _EXPORTS)

__all__ = sorted(_EXPORTS)
