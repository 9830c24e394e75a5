"""evojax-nas: evolve image-classifier architectures in JAX/Flax."""

__version__ = "0.1.0"


def load_model(workdir):
  """The best model an experiment exported; see `experiment.export.Model`."""
  from evojax_nas.experiment.export import load_model as _load  # pylint: disable=g-import-not-at-top
  return _load(workdir)


def run(config, workdir):
  """Runs or resumes an experiment; see `experiment.dispatch.run`."""
  from evojax_nas.experiment.dispatch import run as _run  # pylint: disable=g-import-not-at-top
  return _run(config, workdir)
