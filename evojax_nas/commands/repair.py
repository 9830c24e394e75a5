"""`evojax_nas repair --workdir DIR`: keeps the longest consistent prefix of
a damaged event log and moves the rest aside (never deletes), so that the
experiment resumes from there."""

from __future__ import annotations

import argparse


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="evojax_nas repair", description=__doc__)
  p.add_argument("--workdir", required=True, help="experiment directory")
  p.add_argument("--debug", action="store_true",
                 help="print the traceback of an error, not just its line")
  args = p.parse_args(argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import guarded, log_to_stderr
  log_to_stderr()
  from evojax_nas.experiment.repair import repair

  def fix():
    found = repair(args.workdir)
    if found["line"] is None:
      print(f"{args.workdir}/events.jsonl is consistent: nothing to repair")
    else:
      print(f"events.jsonl line {found['line']}: {found['reason']}; kept "
            f"lines 1-{found['kept']}, moved {found['moved']} line(s) to "
            f"{found['aside']}; run the experiment's command again to resume")
  return guarded("evojax_nas repair", fix, args.workdir, args.debug)
