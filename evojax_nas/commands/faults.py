"""`evojax_nas faults --config CFG --workdir DIR`: the crash-safety test.

Runs the experiment of CFG (its `num_workers` workers, `runner` local or
ray) while SIGKILLing a random worker `--kills` times at random moments
(restarting it; on Ray, Ray reruns it), then checks that every individual
was born once and died at most once, the budget was completed, the
population size kept and every checkpoint left restores. Prints the
findings and writes them to DIR/faults.json; exit status 1 if a check fails.
"""

from __future__ import annotations

import json
import sys

from absl import flags

from evojax_nas.commands import cli


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  fv = cli.command()
  cli.define_config_file(fv, argv)
  flags.DEFINE_string("workdir", None, "A new experiment folder.",
                      flag_values=fv)
  flags.DEFINE_integer("kills", 10, "SIGKILLs to inject.", flag_values=fv)
  flags.DEFINE_float("min_gap", 2.0, "Seconds between kills: at least.",
                     flag_values=fv)
  flags.DEFINE_float("max_gap", 15.0, "Seconds between kills: at most.",
                     flag_values=fv)
  flags.DEFINE_integer("seed", 0, "Seed of the kills' victims and moments.",
                       flag_values=fv)
  flags.mark_flag_as_required("workdir", flag_values=fv)
  cli.parse("evojax_nas faults", __doc__, fv, argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas import config as config_lib
  from evojax_nas.commands import log_to_stderr
  from evojax_nas.runs.faults import inject_faults
  log_to_stderr(fv.debug)
  try:
    report = inject_faults(fv["config"].value, fv.workdir, fv.kills,
                           gap_s=(fv.min_gap, fv.max_gap), seed=fv.seed)
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
