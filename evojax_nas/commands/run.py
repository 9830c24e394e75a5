"""`evojax_nas run --config CFG --workdir DIR` (also `python -m
evojax_nas.main --config CFG --workdir DIR`): runs an experiment.

Flags in, `evojax_nas.run(config, workdir)` out. Rerun with the same
--workdir to resume. Errors a user can fix (flags, config, data,
checkpoints, genomes, a full or read-only disk) end the program with one
line on stderr and exit status 2, Ctrl-C with one line and 130; nothing in
the workdir is lost. `--debug` adds the traceback.
"""

from __future__ import annotations

import sys

from absl import flags

from evojax_nas.commands import cli


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  fv = cli.command()
  cli.define_config_file(fv, argv)
  flags.DEFINE_string("workdir", None, "Experiment directory; rerun with the "
                      "same one to resume.", flag_values=fv)
  flags.mark_flag_as_required("workdir", flag_values=fv)
  cli.parse("evojax_nas", __doc__, fv, argv)
  # Imported here so `--help` stays fast and flag errors come first.
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import (log_to_stderr, run_to_the_end,
                                   summary_line)
  log_to_stderr(fv.debug)  # before JAX starts: its probes log at INFO
  from evojax_nas.runs.dispatch import run
  from evojax_nas.runs.recycle import reexec
  config, workdir = fv["config"].value, fv.workdir

  def experiment():
    # A recycle (a long run near its memory limits) re-executes this
    # command, which resumes from the log.
    results = run(config, workdir,
                  recycle=lambda config, workdir: reexec(argv))
    print(summary_line(results, workdir))
  return run_to_the_end("evojax_nas", experiment, workdir, debug=fv.debug)


if __name__ == "__main__":
  sys.exit(main())
