"""Subcommands of the `evojax_nas` console script besides running an
experiment: `flops`, `report`, `worker`, `faults`, `resume`, `repair`,
`sweep`, `export`, `retrain`; and
what every command shares: log lines, the one-line errors."""

import errno
import logging
import os
import re
import sys
import threading
import traceback
from pathlib import Path

from evojax_nas import stop
from evojax_nas.workdir import RESULTS


class _OneLine(logging.Filter):
  """A library's log record with a traceback (Orbax's background threads
  when the disk is full) becomes its message and the error's first line."""

  def filter(self, record):
    if record.exc_info and record.exc_info[1] is not None:
      err = record.exc_info[1]
      first = (str(err).strip().splitlines() or [""])[0][:300]
      record.msg = f"{record.getMessage()} ({type(err).__name__}: {first})"
      record.args, record.exc_info, record.exc_text = (), None, None
    return True


def _thread_failed(args):
  """A background thread's exception: one line (the main thread reports
  what it means for the run)."""
  first = (str(args.exc_value).strip().splitlines() or [""])[0][:300]
  name = args.thread.name if args.thread else "?"
  print(f"evojax_nas: background thread {name}: "
        f"{getattr(args.exc_type, '__name__', '?')}: {first}", file=sys.stderr)


def _excepthook(exc_type, exc, tb):
  """The program failing: a bug, with its traceback. An error a library's
  native code prints from a callback (TensorStore calling asyncio as an
  Orbax save fails): one line."""
  top = tb.tb_frame.f_code.co_name if tb is not None else ""
  if threading.current_thread() is threading.main_thread() and top in (
      "<module>", "_run_module_as_main"):
    sys.__excepthook__(exc_type, exc, tb)  # the program itself failed
    return
  first = (str(exc).strip().splitlines() or [""])[0][:300]
  print(f"evojax_nas: background thread {threading.current_thread().name}: "
        f"{exc_type.__name__}: {first}", file=sys.stderr)


def log_to_stderr(debug: bool = False) -> None:
  """Our progress lines at INFO on stderr; library chatter (Orbax, JAX)
  only at WARNING, and without tracebacks unless `debug`."""
  from absl import logging as absl_logging  # pylint: disable=g-import-not-at-top
  absl_logging.set_verbosity(absl_logging.WARNING)
  if not debug:
    absl_logging.get_absl_handler().addFilter(_OneLine())
    threading.excepthook = _thread_failed
    sys.excepthook = _excepthook
  handler = logging.StreamHandler()
  handler.setFormatter(logging.Formatter("%(asctime)s %(message)s",
                                         "%H:%M:%S"))
  ours = logging.getLogger("evojax_nas")
  ours.addHandler(handler)
  ours.setLevel(logging.INFO)
  ours.propagate = False


def user_errors() -> tuple[type[Exception], ...]:
  """Errors a user can fix (config, data, checkpoints, genomes, the log):
  one line on stderr and exit status 2, never a traceback."""
  # pylint: disable=g-import-not-at-top
  from evojax_nas.config import ConfigError
  from evojax_nas.evolution.events import EventLogError
  from evojax_nas.genomes.dna import GenomeError
  from evojax_nas.train.checkpoints import CheckpointError
  from evojax_nas.train.data import DataError
  from evojax_nas.model.exported import ModelError
  from evojax_nas.reports.report import ReportError
  return (ConfigError, DataError, CheckpointError, GenomeError, EventLogError,
          ModelError, ReportError)


_FULL = (errno.ENOSPC, errno.EDQUOT)
_READ_ONLY = (errno.EROFS, errno.EACCES, errno.EPERM)


def _io_cause(err: BaseException) -> OSError | None:
  """A disk-full or read-only OSError behind `err` (libraries such as
  Orbax wrap it), or None."""
  seen = set()
  while err is not None and id(err) not in seen:
    seen.add(id(err))
    if isinstance(err, OSError) and err.errno in _FULL + _READ_ONLY:
      return err
    # TensorStore (under Orbax) reports the OS error in its message only.
    code = re.search(r"os_error_code='(\d+)'", str(err))
    if code and int(code.group(1)) in _FULL + _READ_ONLY:
      where = re.search(r'local file "([^"]+)"', str(err))
      return OSError(int(code.group(1)), os.strerror(int(code.group(1))),
                     where.group(1) if where else None)
    err = err.__cause__ or err.__context__
  return None


def io_message(err: OSError, workdir) -> str:
  where = err.filename or workdir or "the output folder"
  if err.errno in _FULL:
    return (f"no space left on the device writing {where}: free some space "
            "and run the same command again; everything written before is "
            "kept")
  return (f"cannot write {where} ({err.strerror}): the folder is read-only "
          "or not yours; use a writable folder (--workdir, or --out for a "
          "report); nothing written before was changed")


def exit_now(code: int):
  """Ends a command that ran an experiment: with XLA's, Orbax's and
  asyncio's threads alive the interpreter's teardown can abort or print
  their failures again; everything is on disk already."""
  sys.stdout.flush()
  sys.stderr.flush()
  os._exit(code)  # pylint: disable=protected-access


def _say_last(line: str) -> None:
  """Writes `line` as the process's last word on stderr: what library
  threads still print from native code after it (TensorStore's callbacks
  failing once an Orbax save failed) goes to /dev/null. The caller ends the
  process next (`exit_now`)."""
  sys.stdout.flush()
  sys.stderr.flush()
  keep = os.dup(2)
  null = os.open(os.devnull, os.O_WRONLY)
  os.dup2(null, 2)
  os.write(keep, (line + "\n").encode())


def guarded(prog: str, fn, workdir=None, debug: bool = False,
            last_words: bool = False) -> int:
  """Runs `fn()`; what a user can fix ends in one line on stderr instead of
  a traceback (with `debug`, the traceback as well): exit status 2 for an
  error, 130 for Ctrl-C (SIGINT), 143 for SIGTERM. Other exceptions are
  bugs: they propagate. `last_words`: the process ends after an error (a
  command that ran an experiment), so its line is the last on stderr."""
  say = (_say_last if last_words and not debug
         else lambda line: print(line, file=sys.stderr))
  with stop.handled():  # Ctrl-C and SIGTERM: KeyboardInterrupt, recorded
    return _report(prog, fn, workdir=workdir, debug=debug, say=say)


def _report(prog: str, fn, *, workdir, debug: bool, say) -> int:
  """`guarded`'s work: runs `fn()`, saying in one line what stopped it."""
  try:
    fn()
    return 0
  except KeyboardInterrupt as err:
    if debug:
      traceback.print_exc()
    how = str(err) or "Ctrl-C"
    where = f" in {workdir}" if workdir else ""
    say(f"{prog}: stopped ({how}); everything finished so far is kept"
        f"{where}: run the same command again to resume")
    return 143 if how == "SIGTERM" else 130
  except user_errors() as err:
    if debug:
      traceback.print_exc()
    say(f"{prog}: error: {err}")
    return 2
  except Exception as err:  # pylint: disable=broad-except
    cause = _io_cause(err)
    if cause is None:
      raise
    if debug:
      traceback.print_exc()
    say(f"{prog}: error: {io_message(cause, workdir)}")
    return 2


def run_to_the_end(prog: str, fn, workdir, debug: bool) -> int:
  """`guarded` for a command that runs an experiment: an error's line is
  the process's last word and the process ends at once (`exit_now`); 0
  when `fn` finished."""
  code = guarded(prog, fn, workdir, debug=debug, last_words=True)
  if code:
    exit_now(code)  # an error: no teardown noise after its line
  return 0


def summary_line(results: dict, workdir: str) -> str:
  """The one line a finished run prints."""
  best = results["best"]
  return (f"best individual {best['id']}: val {best['val_accuracy']:.4f}, "
          f"test {best['test_accuracy']:.4f}; top-"
          f"{len(results['ensemble']['ids'])} ensemble test "
          f"{results['ensemble']['test_accuracy']:.4f}; "
          f"{results['individuals']} individuals, "
          f"{results['total_flops']:.3g} FLOPs, "
          f"{results['wall_time_s']:.0f} s{_split(results)} -> "
          f"{Path(workdir) / RESULTS}" + _final_words(results))


def _split(results: dict) -> str:
  """Where the slots' time went (events.time_split); a run recorded
  before the split counted slots says it as it was then."""
  t = results.get("time") or {}
  shares = t.get("shares")
  if not shares:
    return ""
  if "idle" not in shares:
    return (f" (compiling {shares['compile']:.0%}, training "
            f"{shares['train']:.0%}, device idle "
            f"{shares['device_idle']:.0%})")
  return (f" on {t['slots']} slot{'s' * (t['slots'] > 1)} (compiling "
          f"{shares['compile']:.0%}, training {shares['train']:.0%}, "
          f"validating {shares['eval']:.0%}, idle {shares['idle']:.0%} of "
          "their time)")


def _final_words(results: dict) -> str:
  """What the share of the budget kept for retraining bought."""
  final = results.get("final")
  if not final:
    return ""
  r = final["retrain"]
  return (f"; retrained with {final['fraction']:.0%} of the budget "
          f"({r['steps']} steps): test {r['test_accuracy']:.4f} -> "
          f"{final['model']}")
