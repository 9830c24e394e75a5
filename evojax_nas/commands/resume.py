"""`evojax_nas resume --workdir DIR [--config.KEY=VALUE ...]`: continues an
in-process experiment from its directory.

With the config the experiment recorded (DIR/config.json: its first start's
budgets), or the flat JSON config in `--config_json FILE`; `--config.KEY=VALUE`
on top (budgets, display and paths may change, e.g. a larger
--config.max_individuals; the science may not). A recycled run (a long run
near its memory limits, started from Python) continues this way in a fresh
process; it re-executes itself when it recycles again.
"""

from __future__ import annotations

import sys

from absl import flags

from evojax_nas.commands import cli


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  fv = cli.command()
  flags.DEFINE_string("workdir", None, "Experiment directory.",
                      flag_values=fv)
  flags.DEFINE_string("config_json", "", "Flat JSON config (default: "
                      "WORKDIR/config.json).", flag_values=fv)
  cli.define_config_overrides("evojax_nas resume", fv, argv,
                              what="the recorded config")
  flags.mark_flag_as_required("workdir", flag_values=fv)
  cli.parse("evojax_nas resume", __doc__, fv, argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import (log_to_stderr, run_to_the_end,
                                   summary_line)
  log_to_stderr(fv.debug)  # before JAX starts: its probes log at INFO
  from evojax_nas import config as config_lib
  from evojax_nas.runs.dispatch import run
  from evojax_nas.runs.recycle import reexec

  def resume():
    config = (config_lib.from_json_file(fv.config_json) if fv.config_json
              else config_lib.from_workdir(fv.workdir))
    config.update_from_flattened_dict(cli.overrides(fv))
    results = run(config, fv.workdir,
                  recycle=lambda c, w: reexec(["resume", *argv]))
    print(summary_line(results, fv.workdir))
  return run_to_the_end("evojax_nas resume", resume, fv.workdir, debug=fv.debug)


if __name__ == "__main__":
  sys.exit(main())
