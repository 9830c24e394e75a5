"""Subcommands of the `evojax_nas` console script besides running an
experiment: `flops`, `report`, `worker`, `faults`."""

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
