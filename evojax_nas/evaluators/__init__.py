"""Evaluators: genome -> Result(fitness, cost), side effects on device and disk."""

from evojax_nas.evaluators.trained import DeviceData, Result, TrainedEvaluator

__all__ = ["DeviceData", "Result", "TrainedEvaluator"]
