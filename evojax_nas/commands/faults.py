"""`evojax_nas faults --config CFG --workdir DIR`: the crash-safety test.

Runs the experiment of CFG (its `num_workers` workers, `runner` local or
ray) while SIGKILLing a random worker `--kills` times at random moments
(restarting it; on Ray, Ray reruns it), then checks that every individual
was born once and died at most once, the budget was completed, the
population size kept and every checkpoint left restores. Prints the
findings and writes them to DIR/faults.json; exit status 1 if a check fails.
"""

from __future__ import annotations

import argparse
import json
import sys


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="evojax_nas faults",
                              description=__doc__.split("\n\n")[0])
  p.add_argument("--config", required=True, help="config file (configs/*.py)")
  p.add_argument("--workdir", required=True, help="a new experiment folder")
  p.add_argument("--kills", type=int, default=10)
  p.add_argument("--min_gap", type=float, default=2.0,
                 help="seconds between kills: at least")
  p.add_argument("--max_gap", type=float, default=15.0,
                 help="seconds between kills: at most")
  p.add_argument("--seed", type=int, default=0)
  p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                 help="config override, e.g. num_workers=3 (repeatable)")
  args = p.parse_args(argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas import config as config_lib
  from evojax_nas.commands import log_to_stderr
  from evojax_nas.experiment.faults import inject_faults
  log_to_stderr()
  config = config_lib.load_file(args.config, args.set)
  try:
    report = inject_faults(config, args.workdir, args.kills,
                           (args.min_gap, args.max_gap), args.seed)
  except AssertionError as err:
    print(f"evojax_nas faults: check failed: {err}", file=sys.stderr)
    return 1
  except config_lib.ConfigError as err:
    print(f"evojax_nas faults: error: {err}", file=sys.stderr)
    return 2
  print(json.dumps(report, indent=1))
  return 0


if __name__ == "__main__":
  sys.exit(main())
