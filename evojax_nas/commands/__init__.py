"""Subcommands of the `evojax_nas` console script besides running an
experiment: `flops`, `report`, `worker`, `faults`, `resume`."""

import logging


def log_to_stderr() -> None:
  """Our progress lines at INFO on stderr; library chatter (Orbax, JAX)
  only at WARNING."""
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.WARNING)
  handler = logging.StreamHandler()
  handler.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                         "%H:%M:%S"))
  ours = logging.getLogger("evojax_nas")
  ours.addHandler(handler)
  ours.setLevel(logging.INFO)
  ours.propagate = False


def user_errors() -> tuple[type[Exception], ...]:
  """Errors a user can fix (config, data, checkpoints, genomes, the log):
  one line on stderr and exit status 2, never a traceback."""
  # pylint: disable=g-import-not-at-top
  from evojax_nas.config import ConfigError
  from evojax_nas.experiment.events import EventLogError
  from evojax_nas.genomes import GenomeError
  from evojax_nas.train.checkpoints import CheckpointError
  from evojax_nas.train.data import DataError
  return (ConfigError, DataError, CheckpointError, GenomeError, EventLogError)


def summary_line(results: dict, workdir: str) -> str:
  """The one line a finished run prints."""
  best = results["best"]
  return (f"best individual {best['id']}: val {best['val_accuracy']:.4f}, "
          f"test {best['test_accuracy']:.4f}; top-"
          f"{len(results['ensemble']['ids'])} ensemble test "
          f"{results['ensemble']['test_accuracy']:.4f}; "
          f"{results['individuals']} individuals, "
          f"{results['total_flops']:.3g} FLOPs, "
          f"{results['wall_time_s']:.0f} s -> {workdir}/results.json")
