"""Command line: `python -m evojax_nas.main --config CFG --workdir DIR`.

Thin by design: flags in, `experiment.run(config, workdir)` out. Errors a
user can fix (config, data, checkpoints, genomes) end the program with one
line on stderr and exit status 2; nothing in the workdir is lost.
"""

import sys

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (configs/*.py).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Experiment directory; rerun with the same one to resume.")
flags.mark_flags_as_required(["config", "workdir"])
_ARGV: list[str] = []  # this command's arguments, to re-execute it


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Imported here so `--help` stays fast and flag errors come first.
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import log_to_stderr, summary_line, user_errors
  log_to_stderr()  # before JAX starts: its backend probes log at INFO
  from evojax_nas.experiment import run
  from evojax_nas.experiment.recycle import reexec

  try:
    # A recycle (a long run near its memory limits) re-executes this
    # command, which resumes from the log.
    results = run(_CONFIG.value, _WORKDIR.value,
                  recycle=lambda config, workdir: reexec(_ARGV))
  except user_errors() as err:
    print(f"evojax_nas: error: {err}", file=sys.stderr)
    sys.exit(2)
  print(summary_line(results, _WORKDIR.value))


def run_main():
  """Console-script entry point: `evojax_nas --config ... --workdir ...`
  runs an experiment; `evojax_nas flops --genome FILE` reports FLOPs;
  `evojax_nas report --workdir DIR` writes the HTML report;
  `evojax_nas worker --workdir DIR` joins an experiment as one more worker;
  `evojax_nas resume --workdir DIR` continues one with its recorded config;
  `evojax_nas faults ...` runs the worker fault-injection test."""
  _ARGV[:] = sys.argv[1:]
  if len(sys.argv) > 1 and sys.argv[1] in ("flops", "report", "worker",
                                           "faults", "resume"):
    import importlib  # pylint: disable=g-import-not-at-top
    command = importlib.import_module(f"evojax_nas.commands.{sys.argv[1]}")
    sys.exit(command.main(sys.argv[2:]))
  app.run(main)


if __name__ == "__main__":
  run_main()
