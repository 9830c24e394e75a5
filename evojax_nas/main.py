"""Command line: `evojax_nas COMMAND [flags]`, `python -m evojax_nas.main`.

`evojax_nas run --config CFG --workdir DIR` (or without `run`) runs an
experiment; the other commands are in `evojax_nas/commands/`, all parsed
the same way (commands/cli.py: absl flags, `--config.KEY=VALUE`, `--help`).
"""

import difflib
import importlib
import sys

COMMANDS = {
    "run": "runs or resumes an experiment: --config CFG --workdir DIR",
    "resume": "continues an experiment with its recorded config: --workdir DIR",
    "worker": "joins an experiment as one more worker: --workdir DIR",
    "sweep": "a meta-parameter study: --config CFG --grid KEY=V1,V2 --seeds N "
             "--workdir DIR",
    "report": "the HTML report of a run or a sweep: --workdir DIR",
    "export": "the found model as a portable jax.export program: --workdir "
              "DIR --out FILE",
    "retrain": "trains the found architecture longer, wider or on other "
               "data: --workdir DIR",
    "flops": "the FLOP report of a genome: --genome FILE",
    "repair": "sets a damaged event log aside: --workdir DIR",
    "faults": "the workers' fault-injection test: --config CFG --workdir DIR",
}


def run_main():
  """Console-script entry point."""
  argv = sys.argv[1:]
  if argv and argv[0] in ("-h", "--help", "help"):
    print("usage: evojax_nas COMMAND [flags]   (COMMAND --help for its "
          "flags)\n\ncommands:\n" + "\n".join(
              f"  {name:8s} {what}" for name, what in COMMANDS.items()))
    sys.exit(0)
  if argv and not argv[0].startswith("-") and argv[0] not in COMMANDS:
    near = difflib.get_close_matches(argv[0], list(COMMANDS), n=1)
    hint = f"did you mean {near[0]!r}? " if near else ""
    print(f"evojax_nas: error: unknown command {argv[0]!r}; {hint}the "
          f"commands are {', '.join(COMMANDS)} (evojax_nas --help)",
          file=sys.stderr)
    sys.exit(2)
  name = argv[0] if argv and argv[0] in COMMANDS else "run"
  rest = argv[1:] if argv and argv[0] in COMMANDS else argv
  command = importlib.import_module(f"evojax_nas.commands.{name}")
  sys.exit(command.main(rest))


if __name__ == "__main__":
  run_main()
