"""Where an experiment's time goes, per individual, from its event log.

  python benchmarks/time_split.py WORKDIR [WORKDIR ...]

Sums the `seconds` of every `trained` event (compile = waiting for this
individual's programs on the critical path; restore = fresh init + reading
the parent's checkpoint + inheritance; train = the SGD steps including the
on-device data gather and augmentation; eval = validation (and test where
measured); save = writing the checkpoint) and prints them as percentages of
the individuals' wall time, with the background compile seconds and the
compile-cache hit rate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def split(workdir: str | Path) -> dict:
  events = [json.loads(line) for line in
            (Path(workdir) / "events.jsonl").open() if line.strip()]
  trained = [e for e in events if e.get("event") == "trained"]
  if not trained:
    raise SystemExit(f"{workdir}: no trained individuals yet")
  total = {}
  for e in trained:
    for k, v in e["seconds"].items():
      total[k] = total.get(k, 0.0) + v
  wall = sum(e["wall_s"] for e in trained)
  cache = trained[-1].get("compile_cache", {})
  return {"individuals": len(trained), "wall_s": wall,
          "seconds": total, "cache": cache}


def main(argv=None):
  argv = sys.argv[1:] if argv is None else argv
  if not argv:
    raise SystemExit(__doc__)
  print("| workdir | individuals | wall s | compile | restore | train | eval "
        "| save | other | compile + checkpoint | background compile s "
        "| cache hit rate |")
  print("|" + "---|" * 12)
  for w in argv:
    r = split(w)
    s, wall = r["seconds"], r["wall_s"]
    pct = {k: 100 * v / wall for k, v in s.items()}
    other = 100 - sum(pct.values())
    overhead = pct["compile"] + pct["restore"] + pct["save"]
    c = r["cache"]
    print(f"| {w} | {r['individuals']} | {wall:.0f} | {pct['compile']:.1f} % "
          f"| {pct['restore']:.1f} % | {pct['train']:.1f} % | "
          f"{pct['eval']:.1f} % | {pct['save']:.1f} % | {other:.1f} % | "
          f"**{overhead:.1f} %** | {c.get('compile_seconds', 0):.0f} | "
          f"{c.get('hit_rate', 0):.2f} |")


if __name__ == "__main__":
  main()
