"""Command line: `python -m evojax_nas.main --config CFG --workdir DIR`.

Thin by design: flags in, `experiment.run(config, workdir)` out. Errors a
user can fix (flags, config, data, checkpoints, genomes, a full or read-only
disk) end the program with one line on stderr and exit status 2, Ctrl-C with
one line and 130; nothing in the workdir is lost. `--debug` adds the
traceback.
"""

import difflib
import os
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

_CONFIG = config_flags.DEFINE_config_file(
    "config", None, "Experiment config file (configs/*.py).",
    lock_config=True)
_WORKDIR = flags.DEFINE_string(
    "workdir", None, "Experiment directory; rerun with the same one to resume.")
_DEBUG = flags.DEFINE_bool(
    "debug", False, "Print the traceback of an error, not just its line.")
flags.mark_flags_as_required(["config", "workdir"])
_ARGV: list[str] = []  # this command's arguments, to re-execute it
SUBCOMMANDS = ("flops", "report", "worker", "faults", "resume", "repair",
               "sweep", "export")


def _config_path(argv) -> str:
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      return a.split("=", 1)[1]
    if a == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return ""


def flag_error(err: Exception, argv) -> str:
  """One line for a command line that does not parse."""
  # pylint: disable=g-import-not-at-top
  from evojax_nas import config as config_lib
  keys = set(config_lib.flatten(config_lib.default_config()))
  groups = {k.rsplit(".", 1)[0] for k in keys if "." in k}
  for a in argv:
    if a.startswith("--config."):
      key = a[len("--config."):].split("=", 1)[0]
      if key not in keys and key not in groups:
        near = difflib.get_close_matches(key, sorted(keys), n=1)
        hint = f"did you mean --config.{near[0]}? " if near else ""
        return (f"unknown config key --config.{key}; {hint}the keys are "
                "those of evojax_nas.config.default_config()")
  path = _config_path(argv)
  if isinstance(err, SyntaxError):
    return (f"config file {err.filename or path} line {err.lineno}: "
            f"{err.msg}")
  if path and isinstance(err, OSError) and not os.path.isfile(path):
    return f"config file {path} not found"
  first = (str(err).strip().splitlines() or [type(err).__name__])[0]
  return f"{first} (see --help)"


def _parse_flags(argv):
  try:
    return flags.FLAGS(argv)
  except Exception as err:  # pylint: disable=broad-except
    if "--debug" in argv:
      raise
    print(f"evojax_nas: error: {flag_error(err, argv)}", file=sys.stderr)
    sys.exit(2)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"unexpected arguments: {argv[1:]}")
  # Imported here so `--help` stays fast and flag errors come first.
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import (exit_now, guarded, log_to_stderr,
                                   summary_line)
  log_to_stderr(_DEBUG.value)  # before JAX starts: its probes log at INFO
  from evojax_nas.experiment import run
  from evojax_nas.experiment.recycle import reexec
  try:
    config = _CONFIG.value
    config.keys()  # a config file that failed to load fails here
  except Exception as err:  # pylint: disable=broad-except
    if _DEBUG.value:
      raise
    print(f"evojax_nas: error: {flag_error(err, sys.argv)}", file=sys.stderr)
    sys.exit(2)

  def experiment():
    # A recycle (a long run near its memory limits) re-executes this
    # command, which resumes from the log.
    results = run(config, _WORKDIR.value,
                  recycle=lambda config, workdir: reexec(_ARGV))
    print(summary_line(results, _WORKDIR.value))
  code = guarded("evojax_nas", experiment, _WORKDIR.value, _DEBUG.value,
                 last_words=True)
  if code:
    exit_now(code)  # an error: no teardown noise after its line
  sys.exit(0)


def run_main():
  """Console-script entry point: `evojax_nas --config ... --workdir ...`
  runs an experiment; `evojax_nas flops --genome FILE` reports FLOPs;
  `evojax_nas report --workdir DIR` writes the HTML report;
  `evojax_nas worker --workdir DIR` joins an experiment as one more worker;
  `evojax_nas resume --workdir DIR` continues one with its recorded config;
  `evojax_nas repair --workdir DIR` sets a damaged event log aside;
  `evojax_nas sweep --config CFG --grid KEY=V1,V2 --seeds N --workdir DIR`
  runs a meta-parameter study;
  `evojax_nas export --workdir DIR --out FILE` writes the found model as a
  portable jax.export program;
  `evojax_nas faults ...` runs the worker fault-injection test."""
  _ARGV[:] = sys.argv[1:]
  if len(sys.argv) > 1 and sys.argv[1] in SUBCOMMANDS:
    import importlib  # pylint: disable=g-import-not-at-top
    command = importlib.import_module(f"evojax_nas.commands.{sys.argv[1]}")
    sys.exit(command.main(sys.argv[2:]))
  app.run(main, flags_parser=_parse_flags)


if __name__ == "__main__":
  run_main()
