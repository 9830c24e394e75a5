"""`evojax_nas sweep --config CFG --grid KEY=V1,V2 --seeds N --workdir DIR`:
a meta-parameter study, one experiment per grid point and seed.

The grids' cartesian product × N seeds, each a resumable experiment in
DIR/<point>/seed<S>/ (see runs/sweep.py); `--config.KEY=VALUE`
overrides the config file for all of them. Locally the experiments run one
after another, each in a fresh process; `--runner ray` makes each a Ray
task. Run the same command again to resume; `evojax_nas report --workdir
DIR` draws the study (final test accuracy per value, best-so-far curves).
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags
from ml_collections import config_flags

from evojax_nas.commands import cli, guarded, log_to_stderr


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  fv = cli.command()
  cli.define_config_file(fv, argv)
  flags.DEFINE_multi_string(
      "grid", None, "KEY=V1,V2,...: a config key and its values (Python "
      "literals); repeat for a cartesian product.", flag_values=fv)
  flags.DEFINE_integer("seeds", 1, "Experiments per grid point, seeds "
                       "config.seed + 0.. (default 1).", flag_values=fv)
  flags.DEFINE_string("workdir", None, "The sweep's folder.", flag_values=fv)
  flags.DEFINE_enum("runner", "local", ["local", "ray"], "local: one after "
                    "another here; ray: Ray tasks.", flag_values=fv)
  flags.DEFINE_bool("plan", False, "Print the experiments the sweep would "
                    "run (and which are finished or started) and write "
                    "nothing.", flag_values=fv)
  flags.mark_flags_as_required(["grid", "workdir"], flag_values=fv)
  cli.parse("evojax_nas sweep", __doc__, fv, argv)
  log_to_stderr(fv.debug)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.runs import sweep
  config_file = config_flags.get_config_filename(fv["config"])
  overrides = [f"{k}={v!r}" for k, v in cli.overrides(fv).items()]

  failed = []

  def show_plan(planned):
    root = Path(fv.workdir).absolute()
    sweep.refuse_experiment(root)
    status = sweep.statuses(planned, root)
    for p, st in zip(planned["points"], status):
      print(f"{st:8s} {root / p['workdir']}")
    print(f"{len(status)} experiments ({status.count('finished')} finished, "
          f"{status.count('started')} started, {status.count('new')} new); "
          "nothing was written")

  def study():
    planned = sweep.plan(config_file, fv.grid, fv.seeds, overrides=overrides)
    if fv.plan:
      show_plan(planned)
      return
    rows = sweep.run(planned, fv.workdir, fv.runner)
    failed.extend(r for r in rows if r["code"])
    for r in failed:
      print(f"evojax_nas sweep: {r['workdir']} failed (exit {r['code']}): "
            f"{r['line']}", file=sys.stderr)
    print(f"{len(rows) - len(failed)} of {len(rows)} experiments finished; "
          f"evojax_nas report --workdir {fv.workdir}")
  code = guarded("evojax_nas sweep", study, fv.workdir, debug=fv.debug)
  return code or (1 if failed else 0)


if __name__ == "__main__":
  sys.exit(main())
