"""`evojax_nas export --workdir DIR --out FILE [--individual ID | --ensemble]`:
the found model as a portable `jax.export` artefact.

Writes FILE (uint8 images), its float32 twin and FILE.json (the input
contract, class names, accuracies): see model/portable.py. By default
the run's best model; `--individual ID` a Pareto front member or any
individual whose checkpoint the run kept; `--ensemble` the run's top-k
ensemble as one program. Load it anywhere with JAX alone:
`jax.export.deserialize(open(FILE, "rb").read()).call(images)`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from absl import flags

from evojax_nas.commands import cli
from evojax_nas.workdir import RESULTS, read_results, refuse_owned


def _accuracies(workdir: Path, ids: list[int], ensemble: bool) -> dict:
  """What results.json reports for the exported model."""
  results = read_results(workdir) or {}
  if ensemble:
    return {"test_accuracy": results.get("ensemble", {}).get("test_accuracy"),
            "vote": "majority"}
  members = {m["id"]: m for m in
             (results.get("pareto_front") or {}).get("members", [])}
  best = results.get("best", {})
  found = members.get(ids[0]) or (best if best.get("id") == ids[0] else {})
  return {k: found.get(k) for k in ("val_accuracy", "test_accuracy", "costs")
          if k in found}


def _check_out(out: str, outputs, error) -> None:
  """`--out` names a file that can be written and belongs to no
  experiment (nor do its float32 twin and contract), before any work."""
  if not out or not out.strip() or out.endswith("/"):
    raise error(f"--out {out!r} names no file: give the program's file, e.g. "
                "--out exports/model.jaxexport")
  for path in outputs(out):
    if path.is_dir():
      raise error(f"--out {out}: {path} is a folder: name a file in it, e.g. "
                  f"--out {Path(out) / 'model.jaxexport'}")
    refuse_owned(path, "--out")
  for parent in Path(out).absolute().parents:
    if parent.exists():
      if not parent.is_dir():
        raise error(f"--out {out}: {parent} is a file, not a folder")
      break


def _flags():
  fv = cli.command()
  flags.DEFINE_string("workdir", None, "A finished experiment.",
                      flag_values=fv)
  flags.DEFINE_string("out", None, "The program's file, e.g. "
                      "model.jaxexport.", flag_values=fv)
  flags.DEFINE_integer("individual", None, "An individual's id (default: "
                       "the best).", flag_values=fv)
  flags.DEFINE_bool("ensemble", False, "The run's top-k ensemble, majority "
                    "vote.", flag_values=fv)
  flags.mark_flags_as_required(["workdir", "out"], flag_values=fv)
  flags.register_multi_flags_validator(
      ["individual", "ensemble"],
      lambda f: f["individual"] is None or not f["ensemble"],
      "--individual and --ensemble exclude each other", flag_values=fv)
  return fv


def _models(workdir: Path, individual, ensemble: bool, load_model, error):
  """The exported individual, or the members of the run's ensemble."""
  ids = [individual]
  if ensemble:
    results = read_results(workdir)
    if results is None:
      raise error(f"{workdir} has no {RESULTS}: finish the run "
                  f"first (evojax_nas resume --workdir {workdir})")
    ids = results["ensemble"]["ids"]
  try:
    return [load_model(workdir, i) for i in ids]
  except FileNotFoundError as err:
    raise error(str(err)) from None


def _info(workdir: Path, models, ensemble: bool) -> dict:
  """The contract's description of what was exported."""
  ids = [m.info.get("id") for m in models]
  first = models[0]
  return {"individuals": ids,
          "architectures": [m.genome.describe() for m in models],
          "image_shape": list(first.info.get("image_shape", (32, 32, 3))),
          "data": first.info.get("data"), "workdir": str(workdir.absolute()),
          **_accuracies(workdir, ids, ensemble)}


def main(argv=None) -> int:
  args = _flags()
  cli.parse("evojax_nas export", __doc__, args, argv)
  # pylint: disable=g-import-not-at-top
  from evojax_nas.commands import guarded, log_to_stderr
  log_to_stderr(args.debug)
  from evojax_nas.model.exported import ModelError, load_model
  from evojax_nas.model.portable import (export_portable, float_path,
                                              outputs)

  def export():
    workdir = Path(args.workdir)
    _check_out(args.out, outputs, ModelError)
    models = _models(workdir, args.individual, args.ensemble,
                     load_model=load_model, error=ModelError)
    try:
      contract = export_portable(models, args.out,
                                 _info(workdir, models, args.ensemble))
    except OSError as err:
      raise ModelError(
          f"cannot write {err.filename or args.out} ({err.strerror}): choose "
          "a writable --out; no file of the export was replaced") from None
    print(f"wrote {args.out}, {float_path(Path(args.out))} and {contract}")
  return guarded("evojax_nas export", export, args.out, debug=args.debug)


if __name__ == "__main__":
  sys.exit(main())
