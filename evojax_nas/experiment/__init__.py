"""The experiment runner: the reproduction loop, budgets, log, resumption."""

from evojax_nas.experiment.export import Model, load_model
from evojax_nas.experiment.dispatch import run
from evojax_nas.experiment.runner import Experiment

__all__ = ["Experiment", "Model", "load_model", "run"]
