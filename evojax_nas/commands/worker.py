"""`evojax_nas worker --workdir DIR [--name NAME] [--config.KEY=VALUE ...]`:
one asynchronous worker.

Joins the experiment in DIR (started with `--config` and `num_workers > 0`,
whose config.json it reads; `--config.KEY=VALUE` on top, budgets and paths
only) and evolves its shared population until the budget is spent. Start as
many as you like, on any machine that sees DIR; kill any of them at any
moment: the others (or a restarted one) take its individual back after
`workers.claim_timeout_s`.
"""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

from absl import flags

from evojax_nas.commands import cli
from evojax_nas.workdir import CONFIG


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  fv = cli.command()
  flags.DEFINE_string("workdir", None, "Experiment directory.",
                      flag_values=fv)
  flags.DEFINE_string("name", f"{socket.gethostname()}-{os.getpid()}",
                      "Worker name in logs and claims (default: host-pid).",
                      flag_values=fv)
  cli.define_config_overrides("evojax_nas worker", fv, argv,
                              what="the recorded config")
  flags.mark_flag_as_required("workdir", flag_values=fv)
  cli.parse("evojax_nas worker", __doc__, fv, argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import exit_now, guarded, log_to_stderr
  log_to_stderr(fv.debug)  # before JAX starts: its probes log at INFO
  from evojax_nas import config as config_lib
  from evojax_nas.runs.recorded_config import check_same_experiment
  from evojax_nas.evolution.loop import RecycleNeeded
  from evojax_nas.runs.recycle import reexec
  from evojax_nas.runs.worker import Worker
  workdir, name = fv.workdir, fv.name

  def work():
    config = config_lib.from_workdir(workdir)
    changes = cli.overrides(fv)
    if changes:  # budgets and paths may change, the science may not
      config.update_from_flattened_dict(changes)
      check_same_experiment(config, Path(workdir) / CONFIG,
                            record=False)
    if config.num_workers == 0:
      raise config_lib.ConfigError(
          f"{workdir} holds an in-process experiment (num_workers=0), "
          "which workers must not join; continue it with `python -m "
          "evojax_nas.main` (or `evojax_nas resume --workdir ...`), or start "
          "one with --config.num_workers=N on a new --workdir")
    try:
      Worker(config, workdir, name).run()
    except RecycleNeeded:
      # Near its memory limits, between individuals: the same worker (name,
      # PID) starts afresh.
      reexec(["worker", "--workdir", workdir, "--name", name,
              *(a for a in argv if a.startswith("--config."))])
  code = guarded(f"evojax_nas worker {name}", work, workdir, debug=fv.debug,
                 last_words=True)
  # Everything is on disk. Skip the interpreter's teardown: with XLA's and
  # Orbax's native threads alive it occasionally aborts (SIGABRT, "exception
  # not rethrown"), which the launcher would count as a crash.
  exit_now(code)


if __name__ == "__main__":
  sys.exit(main())
