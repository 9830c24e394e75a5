"""`evojax_nas retrain --workdir DIR [--individual ID | --ensemble | --front]
[--config.retrain.KEY=VALUE ...]`: trains the found architecture(s) of an
experiment further, into `DIR/retrained/<name>/` (named in the log).

Default: the run's best; `--individual ID` any exported or kept individual;
`--ensemble` each member of the top-k ensemble; `--front` each exported
Pareto front member. Settings are the recorded config's `retrain.*` (see
evojax_nas/config.py: retrain_config) with `--config.retrain.KEY=VALUE` on
top, e.g. `--config.retrain.steps=9000 --config.retrain.width=2` (and
`--config.train.conv_kernels=eigen` for a run recorded before that key). Run the
same command again to resume an interrupted retraining; each writes
`results.json`, `model/` (`evojax_nas export --workdir DIR/retrained/NAME`)
and TensorBoard curves.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from evojax_nas.commands import cli
from evojax_nas.workdir import RESULTS, RETRAINED, read_results

# Besides retrain.*: what may differ from the recorded config (paths,
# display, XLA:CPU's convolution kernels: a run recorded before
# `train.conv_kernels` reads as "xla"), as on resume.
_ALSO = ("progress", "tensorboard", "data.dir", "data.cache_dir",
         "train.conv_kernels")


def _ids(workdir: Path, ensemble: bool, front: bool, individual):
  """The individuals to retrain (None: the best)."""
  if not (ensemble or front):
    return [individual]
  # pylint: disable-next=g-import-not-at-top
  from evojax_nas.model.exported import ModelError, exported_ids
  if front:
    if not exported_ids(workdir):
      raise ModelError(f"{workdir} exported no Pareto front (models/<id>): "
                       "only a run that selects on costs does "
                       "(objectives=('accuracy', 'flops'), ...); retrain "
                       "one with --individual ID")
    return exported_ids(workdir)
  results = read_results(workdir)
  if results is None:
    raise ModelError(f"{workdir} has no {RESULTS}: finish the run first "
                     f"(evojax_nas resume --workdir {workdir})")
  return results["ensemble"]["ids"]


def main(argv=None) -> int:
  argv = list(sys.argv[1:] if argv is None else argv)
  fv = cli.command()
  flags.DEFINE_string("workdir", None, "An experiment (finished, or with its "
                      "model/ exported).", flag_values=fv)
  flags.DEFINE_integer("individual", None, "An individual's id (default: "
                       "the best).", flag_values=fv)
  flags.DEFINE_bool("ensemble", False, "Each member of the top-k ensemble.",
                    flag_values=fv)
  flags.DEFINE_bool("front", False, "Each exported Pareto front member.",
                    flag_values=fv)
  cli.define_config_overrides("evojax_nas retrain", fv, argv,
                              what="the recorded config's retrain.* settings")
  flags.mark_flag_as_required("workdir", flag_values=fv)
  flags.register_multi_flags_validator(
      ["individual", "ensemble", "front"],
      lambda f: (f["individual"] is not None) + f["ensemble"] + f["front"]
      <= 1, "--individual, --ensemble and --front exclude each other",
      flag_values=fv)
  cli.parse("evojax_nas retrain", __doc__, fv, argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import log_to_stderr, run_to_the_end
  log_to_stderr(fv.debug)
  from evojax_nas import config as config_lib
  from evojax_nas.runs.retrain import ensemble, retrain

  def run():
    workdir = Path(fv.workdir)
    given = cli.overrides(fv)
    other = sorted(k for k in given
                   if not k.startswith("retrain.") and k not in _ALSO)
    if other:
      raise config_lib.ConfigError(
          f"--config.{other[0]} is the search's; retrain takes "
          f"--config.retrain.KEY=VALUE (and {', '.join(_ALSO)})")
    config = config_lib.from_workdir(workdir)
    config.update_from_flattened_dict(given)
    config = config_lib.validate(config)
    done = []
    for ident in _ids(workdir, fv.ensemble, fv.front, individual=fv.individual):
      done.append(retrain(workdir, ident, config))
      print(retrained_line(done[-1], workdir))
    if fv.ensemble:
      vote = ensemble(workdir, done, config)
      print(f"ensemble of the {len(done)} retrained, majority vote: test "
            f"{vote['test_accuracy']:.4f} -> {vote['path']}")
  return run_to_the_end("evojax_nas retrain", run, fv.workdir, debug=fv.debug)


def retrained_line(results: dict, workdir) -> str:
  """The one line a finished retraining prints."""
  found = results["found_test_accuracy"]
  return (f"individual {results['individual']} retrained "
          f"({results['name']}): test {results['test_accuracy']:.4f}"
          + (f" (found {found:.4f})" if found is not None else "")
          + f", val {results['val_accuracy']:.4f}, {results['steps']} "
          f"steps, {results['seconds']:.0f} s -> "
          f"{Path(workdir) / RETRAINED / results['name'] / RESULTS}")


if __name__ == "__main__":
  sys.exit(main())
