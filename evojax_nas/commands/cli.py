"""One command-line framework for every command: absl flags, each command
with its own `FlagValues`, and ml_collections' `config_flags` for configs,
so `--config.KEY=VALUE`, `--help`, `--debug` and the one-line errors of a
command line that does not parse are the same everywhere.

A command that runs or plans an experiment from a config file defines
`--config FILE` (overrides on top); one that continues an experiment from
its directory (`resume`, `worker`) takes `--config.KEY=VALUE` on top of the
config the directory recorded (budgets may change, the science may not);
`flops` on top of the defaults. Commands that only read a finished
experiment (`report`, `export`, `repair`) have no config, and say so.
"""

from __future__ import annotations

import difflib
import os
import sys

from absl import flags
from ml_collections import config_flags


def command() -> flags.FlagValues:
  """A command's flags, with `--debug`."""
  fv = flags.FlagValues()
  flags.DEFINE_bool("debug", False,
                    "Print the traceback of an error, not just its line.",
                    flag_values=fv)
  return fv


def define_config_file(fv: flags.FlagValues, argv, required: bool = True):
  """`--config FILE` and its `--config.KEY=VALUE` overrides (config_flags
  defines an override flag for each one in `argv`)."""
  config_flags.DEFINE_config_file(
      "config", None, "Experiment config file (configs/*.py); override any "
      "key with --config.KEY=VALUE.", flag_values=fv, lock_config=True,
      sys_argv=["evojax_nas", *argv])
  if required:
    flags.mark_flag_as_required("config", flag_values=fv)


def define_config_overrides(prog: str, fv: flags.FlagValues, argv, what: str):
  """`--config.KEY=VALUE` on top of a config from elsewhere (`what`); an
  unknown key in `argv` ends the command with one line."""
  from evojax_nas import config as config_lib  # pylint: disable=g-import-not-at-top
  try:
    config_flags.DEFINE_config_dict(
        "config", config_lib.default_config(),
        f"--config.KEY=VALUE overrides {what}.", flag_values=fv,
        lock_config=True, sys_argv=["evojax_nas", *argv])
  except (KeyError, AttributeError) as err:
    _fail(prog, err, argv, has_config=True)


def _fail(prog: str, err: Exception, argv, has_config: bool):
  if "--debug" in argv:
    raise err
  print(f"{prog}: error: {flag_error(err, argv, has_config)}",
        file=sys.stderr)
  sys.exit(2)


def overrides(fv: flags.FlagValues) -> dict:
  """The `--config.KEY=VALUE` given, flat, typed as the defaults are."""
  return dict(config_flags.get_override_values(fv["config"]))


def _config_path(argv) -> str:
  for i, a in enumerate(argv):
    if a.startswith("--config="):
      return a.split("=", 1)[1]
    if a == "--config" and i + 1 < len(argv):
      return argv[i + 1]
  return ""


def flag_error(err: Exception, argv, has_config: bool = True) -> str:
  """One line for a command line that does not parse."""
  # pylint: disable=g-import-not-at-top
  from evojax_nas import config as config_lib
  keys = set(config_lib.flatten(config_lib.default_config()))
  groups = {k.rsplit(".", 1)[0] for k in keys if "." in k}
  for a in argv:
    if a.startswith("--config."):
      if not has_config:
        return ("this command takes no config (--config.KEY=VALUE): it "
                "reads a finished experiment's directory")
      key = a[len("--config."):].split("=", 1)[0]
      if key not in keys and key not in groups:
        near = difflib.get_close_matches(key, sorted(keys), n=1)
        hint = f"did you mean --config.{near[0]}? " if near else ""
        return (f"unknown config key --config.{key}; {hint}the keys are "
                "those of evojax_nas.config.default_config()")
  path = _config_path(argv)
  if isinstance(err, SyntaxError):
    return (f"config file {err.filename or path} line {err.lineno}: "
            f"{err.msg}")
  if path and isinstance(err, OSError) and not os.path.isfile(path):
    return f"config file {path} not found"
  lines = str(err).strip().splitlines() or [type(err).__name__]
  if any(l.startswith("Traceback (most recent") for l in lines):  # it raised
    last = next(l for l in reversed(lines) if l.strip())
    return (f"config file {path or '?'}: get_config() raised {last.strip()}"
            " (--debug: the traceback)")
  return f"{lines[0]} (see --help)"


def usage(prog: str, doc: str, fv: flags.FlagValues) -> str:
  return f"usage: {prog} [flags]\n\n{doc.strip()}\n\nflags:\n" + "\n".join(
      f"  {line}" for line in fv.get_help(include_special_flags=False)
      .splitlines() if line.strip() and not line.strip().endswith(":"))


def parse(prog: str, doc: str, fv: flags.FlagValues, argv) -> flags.FlagValues:
  """Parses `argv` (without the program) into `fv`: `--help` prints the
  usage and exits 0; a command line that does not parse (or a config file
  that does not load) ends with one line and exit status 2 (`--debug`: the
  traceback)."""
  argv = list(sys.argv[1:] if argv is None else argv)
  if {"--help", "-h", "--helpfull"} & set(argv):
    print(usage(prog, doc, fv))
    sys.exit(0)
  has_config = "config" in fv
  try:
    rest = fv([prog] + argv)
    if len(rest) > 1:
      raise flags.Error(f"unexpected arguments: {' '.join(rest[1:])}")
    if has_config and fv["config"].value is not None:
      fv["config"].value.keys()  # a config file that failed to load fails here
  except Exception as err:  # pylint: disable=broad-except
    _fail(prog, err, argv, has_config=has_config)
  return fv
