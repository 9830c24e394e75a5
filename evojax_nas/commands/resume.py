"""`evojax_nas resume --workdir DIR [--config_json FILE]`: continues an
in-process experiment from its directory.

With the config the experiment recorded (DIR/config.json: its first start's
budgets), or the flat JSON config in FILE. A recycled run (a long run near
its memory limits, started from Python) continues this way in a fresh
process; it re-executes itself when it recycles again.
"""

from __future__ import annotations

import argparse
import sys


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  p = argparse.ArgumentParser(prog="evojax_nas resume",
                              description=__doc__.split("\n\n", maxsplit=1)[0])
  p.add_argument("--workdir", required=True, help="experiment directory")
  p.add_argument("--config_json", default="",
                 help="flat JSON config (default: WORKDIR/config.json)")
  p.add_argument("--debug", action="store_true",
                 help="print the traceback of an error, not just its line")
  args = p.parse_args(argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import (exit_now, guarded, log_to_stderr,
                                   summary_line)
  log_to_stderr(args.debug)  # before JAX starts: its probes log at INFO
  from evojax_nas import config as config_lib
  from evojax_nas.experiment import run
  from evojax_nas.experiment.recycle import reexec

  def resume():
    config = (config_lib.from_json_file(args.config_json) if args.config_json
              else config_lib.from_workdir(args.workdir))
    results = run(config, args.workdir,
                  recycle=lambda c, w: reexec(["resume", *argv]))
    print(summary_line(results, args.workdir))
  code = guarded("evojax_nas resume", resume, args.workdir, args.debug,
                 last_words=True)
  if code:
    exit_now(code)  # an error: no teardown noise after its line
  return 0


if __name__ == "__main__":
  sys.exit(main())
