"""Experiments: the reproduction loop on its two population backends, budgets,
the log, workers, resumption and the end of a run.

The package re-exports nothing, so that a light module of it loads without
the loop: `evojax_nas.run` and `evojax_nas.load_model` are the entry points
(dispatch.py; model/exported.py), `runner.Experiment` the loop in one
process.
"""
