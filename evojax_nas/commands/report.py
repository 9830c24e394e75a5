"""`evojax_nas report --workdir DIR [--workdir DIR ...]`: the HTML report.

The first workdir is reported in full; the others (e.g. its random and
no-inheritance controls, or repeats) join the best-so-far plot. A sweep's
folder (`evojax_nas sweep`) gets the study's report: final test accuracy
per grid point, best-so-far curves. Reads only the directories, so it can
run while the experiment is going.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from evojax_nas.commands import guarded
from evojax_nas.reports import report
from evojax_nas.reports import sweep as sweep_report


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="evojax_nas report",
                              description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", action="append", required=True,
                 help="experiment directory (repeat to compare runs)")
  p.add_argument("--out", default=None,
                 help="output folder (default: FIRST_WORKDIR/report)")
  p.add_argument("--debug", action="store_true",
                 help="print the traceback of an error, not just its line")
  args = p.parse_args(argv)

  def write():
    try:
      first = Path(args.workdir[0])
      if (first / "sweep.json").is_file():
        print(sweep_report.build(first, args.out))
      else:
        print(report.build(args.workdir, args.out))
    except FileNotFoundError as err:
      raise report.ReportError(str(err)) from None
  return guarded("evojax_nas report", write, args.out or args.workdir[0],
                 args.debug)


if __name__ == "__main__":
  sys.exit(main())
