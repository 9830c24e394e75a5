"""`evojax_nas sweep --config CFG --grid KEY=V1,V2 --seeds N --workdir DIR`:
a meta-parameter study, one experiment per grid point and seed.

The grids' cartesian product × N seeds, each a resumable experiment in
DIR/<point>/seed<S>/ (see experiment/sweep.py); `--config.KEY=VALUE`
overrides the config file for all of them. Locally the experiments run one
after another, each in a fresh process; `--runner ray` makes each a Ray
task. Run the same command again to resume; `evojax_nas report --workdir
DIR` draws the study (final test accuracy per value, best-so-far curves).
"""

from __future__ import annotations

import argparse
import sys

from evojax_nas.commands import guarded, log_to_stderr


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  overrides = [a[len("--config."):] for a in argv if a.startswith("--config.")]
  rest = [a for a in argv if not a.startswith("--config.")]
  p = argparse.ArgumentParser(prog="evojax_nas sweep",
                              description=__doc__.split("\n\n")[0])
  p.add_argument("--config", required=True, help="config file (configs/*.py)")
  p.add_argument("--grid", action="append", required=True,
                 metavar="KEY=V1,V2,...",
                 help="a config key and its values (Python literals); "
                      "repeat for a cartesian product")
  p.add_argument("--seeds", type=int, default=1,
                 help="experiments per grid point, seeds config.seed + 0.. "
                      "(default 1)")
  p.add_argument("--workdir", required=True, help="the sweep's folder")
  p.add_argument("--runner", default="local", choices=("local", "ray"),
                 help="local: one after another here; ray: Ray tasks")
  p.add_argument("--debug", action="store_true",
                 help="print the traceback of an error, not just its line")
  args = p.parse_args(rest)
  log_to_stderr(args.debug)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.experiment import sweep

  failed = []

  def study():
    rows = sweep.run(sweep.plan(args.config, args.grid, args.seeds,
                                overrides), args.workdir, args.runner)
    failed.extend(r for r in rows if r["code"])
    for r in failed:
      print(f"evojax_nas sweep: {r['workdir']} failed (exit {r['code']}): "
            f"{r['line']}", file=sys.stderr)
    print(f"{len(rows) - len(failed)} of {len(rows)} experiments finished; "
          f"evojax_nas report --workdir {args.workdir}")
  code = guarded("evojax_nas sweep", study, args.workdir, args.debug)
  return code or (1 if failed else 0)


if __name__ == "__main__":
  sys.exit(main())
