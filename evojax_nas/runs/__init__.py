"""Runs: process control and the files of a run over the algorithm of
evolution/ — a run's one start and finish (run.py), the in-process run
(runner.py), the workers and their launcher (worker.py, launch.py), child
processes and Ray (processes.py), recycling into a fresh process, the
workdir's lock, sweeps, fault injection and repair, the recorded config,
results, TensorBoard and the retraining stage.

The package re-exports nothing, so that a light module of it loads without
the loop: `evojax_nas.run` and `evojax_nas.load_model` are the entry points
(dispatch.py; model/exported.py), `runner.Experiment` the loop in one
process.
"""
