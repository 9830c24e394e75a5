"""`evojax_nas worker --workdir DIR [--name NAME]`: one asynchronous worker.

Joins the experiment in DIR (started with `--config` and `num_workers > 0`,
whose config.json it reads) and evolves its shared population until the
budget is spent. Start as many as you like, on any machine that sees DIR;
kill any of them at any moment: the others (or a restarted one) take its
individual back after `workers.claim_timeout_s`.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys


def main(argv=None) -> int:
  p = argparse.ArgumentParser(prog="evojax_nas worker",
                              description=__doc__.split("\n\n")[0])
  p.add_argument("--workdir", required=True, help="experiment directory")
  p.add_argument("--name", default=f"{socket.gethostname()}-{os.getpid()}",
                 help="worker name in logs and claims (default: host-pid)")
  p.add_argument("--debug", action="store_true",
                 help="print the traceback of an error, not just its line")
  args = p.parse_args(argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import exit_now, guarded, log_to_stderr
  log_to_stderr(args.debug)  # before JAX starts: its probes log at INFO
  from evojax_nas import config as config_lib
  from evojax_nas.experiment.recycle import RecycleNeeded, reexec
  from evojax_nas.experiment.worker import Worker

  def work():
    config = config_lib.from_workdir(args.workdir)
    if config.num_workers == 0:
      raise config_lib.ConfigError(
          f"{args.workdir} holds an in-process experiment (num_workers=0), "
          "which workers must not join; continue it with `python -m "
          "evojax_nas.main` (or `evojax_nas resume --workdir ...`), or start "
          "one with --config.num_workers=N on a new --workdir")
    try:
      Worker(config, args.workdir, args.name).run()
    except RecycleNeeded:
      # Near its memory limits, between individuals: the same worker (name,
      # PID) starts afresh.
      reexec(["worker", "--workdir", args.workdir, "--name", args.name])
  code = guarded(f"evojax_nas worker {args.name}", work, args.workdir,
                 args.debug, last_words=True)
  # Everything is on disk. Skip the interpreter's teardown: with XLA's and
  # Orbax's native threads alive it occasionally aborts (SIGABRT, "exception
  # not rethrown"), which the launcher would count as a crash.
  exit_now(code)


if __name__ == "__main__":
  sys.exit(main())
