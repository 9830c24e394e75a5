"""The bad-input probe: every command given the mistakes a demanding new
user makes, as a table (case, exit status, the last line on stderr, and
whether the experiment folder was left unchanged).

    python benchmarks/bad_input_probe.py [--keep DIR]

Runs on synthetic CIFAR-shaped data in a temporary folder (a few minutes on
two cores). Exit status 0: no case printed a traceback and no case changed
a folder it must not change.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
from conftest import write_cifar10_python, write_cli_config  # pylint: disable=g-import-not-at-top,wrong-import-position

ENV = dict(os.environ, PYTHONPATH=str(ROOT))


def sums(folder: Path) -> dict:
  return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).digest()
          for p in sorted(folder.rglob("*")) if p.is_file() and p.name != "lock"
          } if folder.is_dir() else {}


def run(*args, timeout=600):
  return subprocess.run([sys.executable, "-m", "evojax_nas.main",
                         *map(str, args)], env=ENV, capture_output=True,
                        text=True, timeout=timeout, check=False)


def main():
  parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  parser.add_argument("--keep", help="work here instead of a temporary")
  args = parser.parse_args()
  tmp = Path(args.keep or tempfile.mkdtemp(prefix="probe-"))
  tmp.mkdir(parents=True, exist_ok=True)
  data = tmp / "data"
  if not data.exists():
    write_cifar10_python(data / "cifar-10-batches-py")
  cfg = write_cli_config(tmp / "cfg.py", data, tmp / "cache",
                         max_individuals=4)
  wd = tmp / "wd"
  if not (wd / "results.json").is_file():
    assert run(f"--config={cfg}", f"--workdir={wd}").returncode == 0
  (tmp / "file").write_text("x")
  (tmp / "bad_get_config.py").write_text(
      "def get_config():\n  raise ValueError('set POP first')\n")
  (tmp / "syntax.py").write_text("def get_config(:\n")
  swapped = tmp / "swapped"
  if not swapped.exists():
    shutil.copytree(data, swapped)
    import pickle  # pylint: disable=g-import-not-at-top
    for f in (swapped / "cifar-10-batches-py").glob("*_batch*"):
      d = pickle.loads(f.read_bytes(), encoding="latin1")
      d["labels"] = [{0: 1, 1: 0}.get(y, y) for y in d["labels"]]
      f.write_bytes(pickle.dumps(d))
  sweep_dir = tmp / "sweep"
  sweep_dir.mkdir(exist_ok=True)
  (sweep_dir / "sweep.json").write_text("{}")
  c = f"--config={cfg}"
  w = f"--workdir={wd}"
  cases = [
      ("run: unknown key", [c, f"--workdir={tmp}/n1", "--config.populaton_size=3"]),
      ("run: momentum=nan", [c, f"--workdir={tmp}/n2", "--config.train.momentum=nan"]),
      ("run: initial_learning_rate=inf", [c, f"--workdir={tmp}/n3", "--config.initial_learning_rate=inf"]),
      ("run: momentum=1.5", [c, f"--workdir={tmp}/n4", "--config.train.momentum=1.5"]),
      ("run: missing config file", [f"--config={tmp}/nope.py", f"--workdir={tmp}/n5"]),
      ("run: config syntax error", [f"--config={tmp}/syntax.py", f"--workdir={tmp}/n5"]),
      ("run: get_config raises", [f"--config={tmp}/bad_get_config.py", f"--workdir={tmp}/n5"]),
      ("run: missing data folder", [c, f"--workdir={tmp}/n6", f"--config.data.dir={tmp}/nodata"]),
      ("run: cache under a file", [c, f"--workdir={tmp}/n7", f"--config.data.cache_dir={tmp}/file/c"]),
      ("run: on a sweep folder", [c, f"--workdir={sweep_dir}"]),
      ("run: science changed on resume", [c, w, "--config.population_size=5"]),
      ("mistyped command", ["reprot", w]),
      ("resume: other data", ["resume", w, f"--config.data.dir={swapped}", "--config.max_individuals=5"]),
      ("resume: no workdir", ["resume", f"--workdir={tmp}/none"]),
      ("resume: a sweep folder", ["resume", f"--workdir={sweep_dir}"]),
      ("resume: science key", ["resume", w, "--config.seed=3"]),
      ("worker: in-process workdir", ["worker", w]),
      ("sweep: into an experiment", ["sweep", c, "--grid", "population_size=3", w]),
      ("sweep: unknown grid key", ["sweep", c, "--grid", "populaton=3", f"--workdir={tmp}/s2"]),
      ("sweep: bad grid value", ["sweep", c, "--grid", "sample_size=9", f"--workdir={tmp}/s2"]),
      ("sweep --plan", ["sweep", c, "--grid", "population_size=3,4", "--seeds=50", f"--workdir={tmp}/s3", "--plan"]),
      ("report: --out on checkpoints/", ["report", w, f"--out={wd}/checkpoints"]),
      ("report: no workdir", ["report", f"--workdir={tmp}/none"]),
      ("report: --config given", ["report", w, "--config.seed=1"]),
      ("export: --out on events.jsonl", ["export", w, f"--out={wd}/events.jsonl"]),
      ("export: --out W/config (contract config.json)", ["export", w, f"--out={wd}/config"]),
      ("export: --out the workdir", ["export", w, f"--out={wd}"]),
      ("export: --out a folder", ["export", w, f"--out={tmp}"]),
      ("export: --out ''", ["export", w, "--out="]),
      ("export: --out under a file", ["export", w, f"--out={tmp}/file/m.jaxexport"]),
      ("export: --out unwritable", ["export", w, "--out=/proc/evojax/m.jaxexport"]),
      ("export: unknown individual", ["export", w, "--individual=999", f"--out={tmp}/m.jaxexport"]),
      ("export: --individual and --ensemble", ["export", w, "--individual=1", "--ensemble", f"--out={tmp}/m.jaxexport"]),
      ("flops: missing genome", ["flops", f"--genome={tmp}/nope.json"]),
      ("flops: genome not JSON", ["flops", f"--genome={tmp}/file"]),
      ("repair: no workdir", ["repair", f"--workdir={tmp}/none"]),
      ("repair: sound log", ["repair", w]),
      ("faults: missing config", ["faults", f"--config={tmp}/nope.py", f"--workdir={tmp}/f"]),
  ]
  rows, bad = [], 0
  before = sums(wd)
  for name, argv in cases:
    done = run(*argv)
    last = (done.stderr.strip().splitlines() or done.stdout.strip()
            .splitlines() or [""])[-1]
    traceback = "Traceback" in done.stderr
    kept = sums(wd) == before
    bad += traceback or not kept
    rows.append((name, done.returncode, ("TRACEBACK " if traceback else "")
                 + last[:150], "yes" if kept else "CHANGED"))
  # Damage: a byte that is not text in the log, then resume / report / repair.
  damaged = tmp / "damaged"
  shutil.rmtree(damaged, ignore_errors=True)
  shutil.copytree(wd, damaged)
  lines = (damaged / "events.jsonl").read_bytes().splitlines(keepends=True)
  (damaged / "events.jsonl").write_bytes(b"".join(lines[:5] + [b"\xff\xfe\n"]
                                                  + lines[5:]))
  for name, argv in (("resume: damaged byte", ["resume"]),
                     ("report: damaged byte", ["report"]),
                     ("repair: damaged byte", ["repair"]),
                     ("resume after repair", ["resume"])):
    done = run(*argv, f"--workdir={damaged}")
    last = (done.stderr.strip().splitlines() or done.stdout.strip()
            .splitlines() or [""])[-1]
    bad += "Traceback" in done.stderr
    rows.append((name, done.returncode, last[:150], "-"))
  print("| case | exit | last line | workdir unchanged |\n|---|---|---|---|")
  for r in rows:
    print("| " + " | ".join(str(x).replace("|", "/") for x in r) + " |")
  print(f"\n{len(rows)} cases, {bad} with a traceback or a changed workdir")
  return 1 if bad else 0


if __name__ == "__main__":
  sys.exit(main())
