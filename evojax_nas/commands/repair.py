"""`evojax_nas repair --workdir DIR`: keeps the longest consistent prefix of
a damaged event log and moves the rest aside (never deletes), so that the
experiment resumes from there."""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from evojax_nas.commands import cli
from evojax_nas.workdir import EVENTS


def main(argv=None) -> int:
  fv = cli.command()
  flags.DEFINE_string("workdir", None, "Experiment directory.",
                      flag_values=fv)
  flags.mark_flag_as_required("workdir", flag_values=fv)
  cli.parse("evojax_nas repair", __doc__, fv, argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import guarded, log_to_stderr
  log_to_stderr(fv.debug)
  from evojax_nas.runs.repair import repair
  workdir = fv.workdir

  def fix():
    found = repair(workdir)
    if found["line"] is None:
      print(f"{Path(workdir) / EVENTS} is consistent: nothing to repair")
    else:
      again = (f"; individuals {found['ids']} will be trained again from "
               "their keys" if found["ids"] else "")
      ckpts = (f" with the checkpoints of {found['checkpoints']}"
               if found["checkpoints"] else "")
      print(f"{EVENTS} line {found['line']}: {found['reason']}; kept "
            f"lines 1-{found['kept']}, moved {found['moved']} line(s){ckpts} "
            f"to {found['aside']}; run the experiment's command again to "
            f"resume{again}")
  return guarded("evojax_nas repair", fix, workdir, debug=fv.debug)


if __name__ == "__main__":
  sys.exit(main())
