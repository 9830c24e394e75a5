"""evojax-nas: evolve image-classifier architectures in JAX/Flax."""

__version__ = "0.1.0"


def load_model(workdir, individual=None):
  """The best model an experiment exported, or the exported individual of
  that id (a Pareto front member); see `model.exported.load_model`."""
  from evojax_nas.model.exported import load_model as _load  # pylint: disable=g-import-not-at-top
  return _load(workdir, individual)


def run(config, workdir):
  """Runs or resumes an experiment; see `runs.dispatch.run`."""
  from evojax_nas.runs.dispatch import run as _run  # pylint: disable=g-import-not-at-top
  return _run(config, workdir)
