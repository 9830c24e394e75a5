"""`evojax_nas report --workdir DIR [--workdir DIR ...]`: the HTML report.

The first workdir is reported in full; the others (e.g. its random and
no-inheritance controls, or repeats) join the best-so-far plot. A sweep's
folder (`evojax_nas sweep`) gets the study's report: final test accuracy
per grid point, best-so-far curves. Reads only the directories, so it can
run while the experiment is going.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from evojax_nas.commands import cli, guarded
from evojax_nas.workdir import SWEEP, refuse_owned
from evojax_nas.reports import report
from evojax_nas.reports import sweep as sweep_report


def main(argv=None) -> int:
  fv = cli.command()
  flags.DEFINE_multi_string("workdir", None, "Experiment directory (repeat "
                            "to compare runs) or a sweep's folder.",
                            flag_values=fv)
  flags.DEFINE_string("out", None, "Output folder (default: "
                      "FIRST_WORKDIR/report).", flag_values=fv)
  flags.mark_flag_as_required("workdir", flag_values=fv)
  cli.parse("evojax_nas report", __doc__, fv, argv)

  def write():
    if fv.out:
      refuse_owned(fv.out, "--out", allow=("report",))
    try:
      first = Path(fv.workdir[0])
      if (first / SWEEP).is_file():
        print(sweep_report.build(first, fv.out))
      else:
        print(report.build(fv.workdir, fv.out))
    except FileNotFoundError as err:
      raise report.ReportError(str(err)) from None
  return guarded("evojax_nas report", write, fv.out or fv.workdir[0],
                 debug=fv.debug)


if __name__ == "__main__":
  sys.exit(main())
