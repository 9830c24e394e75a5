"""Throughput on a fixed workload: a recorded run's genomes re-trained in
their recorded order, under S = 1, 2, 4, ... slots.

Throughput measured on a live run says as much about what evolved there as
about the engine; here every S trains the same individuals (with their
parents' weights where the run inherited them), so the rows compare. Each S
starts from a cold compile cache (no persistent cache), as a run does.

  python benchmarks/replay_throughput.py WORKDIR [--individuals 40]
      [--slots 1,2,4] [--steps 0] [--data_dir DIR] [--loop auto]
      [--engines network] [--compile_options default,fast_compile]
      [--conv_kernels xla,eigen] [--cpu_devices N] [--warm]
      [--program_stores ,DIR] [--fill_program_store DIR]
      [--paths old,new]

Each S is run with every `--engines` value (train.engine: "network", one
train program per architecture with its batch preparation; "split", the
preparation shared by every architecture; "layers", per-unit programs
shared across architectures) and every `--compile_options` value
(train.compile_options: "default", XLA's own; "fast_compile", XLA:CPU's
optimisation level 2 and loop emitters) and every `--conv_kernels` value
(train.conv_kernels: "xla", XLA:CPU's own, YNNPACK; "eigen"), interleaved
so that the machine's drift hits all of them.

Columns: individuals per hour; programs compiled, programs loaded from
another CPU device instead (`moved`, compile/relocate.py) or from the
program store (`loaded`: `--program_stores`, a folder filled by
`--fill_program_store DIR` on another recorded run; each row reads a copy;
compile/program_store.py) and their seconds in total; compile on the
critical path; training and validation seconds summed over the
individuals; device busy = the union of the intervals in
which some slot's training or evaluation programs ran (train + validation
+ checkpoint start, `Trainer.timeline`) over the wall time; compile on the
critical path = time some compilation ran while no slot used the device;
with `--warm`, each row again with every program already compiled (the
ceiling that no compilation at all would give), and the CPU that
compiling took: the cold row's CPU time less the warm row's (XLA:CPU
compiles on a pool of its own threads, ~1.6 cores of 2 when alone, so the
compile seconds, which are wall seconds, are not its CPU);
host overhead per step = the rest of the device's idle time (restores,
dispatch gaps, waits) per SGD step; CPU s = the process's CPU time over
the row (every thread), and compile's share of it; devices = the CPU
devices the host was split into (`cpu_devices`).

`--paths old,new` compares whole paths in one table, each in its own
process (the device count is fixed when JAX starts), with each row's
individuals per hour as a multiple of the first path's: "old" is the
trainer before issue 25 (one device, one fused train program per
architecture, XLA's own options and kernels), "new" what `auto` picks on
this backend. Births follow the log: slot k trains individual i when
i - S has been published, as in the loop.
"""

from __future__ import annotations

import argparse
import collections
import concurrent.futures
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import jax

from evojax_nas import config as config_lib
from evojax_nas.evolution import keys
from evojax_nas.genomes import spaces
from evojax_nas.genomes.formats import genome_from_json
from evojax_nas.train import trainer as trainer_lib

# The paths `--paths` compares, as the flags each path's process gets.
PATHS = {
    "old": ["--engines", "network", "--compile_options", "default",
            "--conv_kernels", "xla", "--cpu_devices", "1"],
    "new": ["--engines", "auto", "--compile_options", "auto",
            "--conv_kernels", "auto", "--cpu_devices", "0"],
}


def recorded_individuals(workdir: Path, limit: int, first: int = 0
                         ) -> list[dict]:
  """`limit` born events that were trained (from the `first`), in birth
  order."""
  events = [json.loads(l) for l in (workdir / "events.jsonl").open()]
  trained = {e["id"] for e in events if e["event"] == "trained"}
  born = [e for e in events if e["event"] == "born" and e["id"] in trained]
  return born[first:first + limit] if limit else born[first:]


def union(intervals) -> float:
  total, end = 0.0, float("-inf")
  for a, b in sorted(intervals):
    if b > end:
      total += b - max(a, end)
      end = b
  return total


def minus(intervals, holes) -> float:
  """Length of the union of `intervals` outside the union of `holes`."""
  return union(intervals + holes) - union(holes)


def train_all(trainer, config, born: list[dict], slots: int) -> list:
  """Trains `born` on `slots` slots (FIFO, results in order)."""
  space = spaces.make(config.search_space, config)
  root = jax.random.key(config.seed)
  done: set[int] = set()
  genomes = {e["id"]: genome_from_json(e["genome"]) for e in born}
  flights = collections.deque()
  results = []
  with concurrent.futures.ThreadPoolExecutor(slots) as pool:
    for e in born + [None] * slots:
      if len(flights) == slots or (e is None and flights):
        ident, fut, _ = flights.popleft()
        results.append(fut.result())
        done.add(ident)
      if e is None:
        continue
      parent = e["parent"]
      parent = (parent, genomes[parent]) if parent in done else None
      slot = min(set(range(slots)) - {f[2] for f in flights})
      key = keys.stream(keys.individual(root, e["id"]), keys.Stream.TRAIN)
      fut = pool.submit(trainer.train_and_validate, key, e["id"],
                        genomes[e["id"]], parent=parent,
                        inherit=not space.inherits_nothing(e["mutation"]),
                        slot=slot)
      flights.append((e["id"], fut, slot))
  return results


def replay(config, born: list[dict], slots: int, warm: bool = False,
           copy_store: bool = True) -> dict:
  """The row of `born` trained on `slots` slots from a cold compile cache
  (and the program store `config.program_store`: none, or one another run
  filled), or (`warm`) trained a second time with every program compiled:
  the ceiling that no compilation at all would give."""
  store = config.program_store
  with tempfile.TemporaryDirectory() as tmp:
    if store and copy_store:  # a copy: each row starts from the same store
      config.program_store = str(shutil.copytree(store, Path(tmp) / "p"))
    trainer = trainer_lib.build(config, Path(tmp), slots=slots)
    config.program_store = store
    trainer.lane(0)  # the data on the device before the clock starts
    if warm:
      train_all(trainer, config, born, slots)
    trainer.timeline = []
    before = trainer.cache.stats()
    t0, cpu0 = time.perf_counter(), time.process_time()
    results = train_all(trainer, config, born, slots)
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    trainer.close()
    stats = trainer.cache.stats()
  stats = {k: stats[k] - before[k] for k in (
      "compiles", "relocated", "compile_seconds", "stored_loads")}
  device = [(a, b) for _, kind, a, b in trainer.timeline if kind == "device"]
  compiles = [(a, b) for _, kind, a, b in trainer.timeline
              if kind == "compile"]
  busy = union(device)
  critical = minus(compiles, device)
  steps = len(born) * config.steps_per_individual
  spent = lambda k: sum(r.seconds[k] for r in results)
  return {"slots": slots, "wall_s": wall,
          "per_hour": 3600.0 * len(born) / wall, "busy": busy / wall,
          "compile_s": critical, "compile_total_s": stats["compile_seconds"],
          "compiles": stats["compiles"], "relocated": stats["relocated"],
          "loaded": stats["stored_loads"],
          "train_s": spent("train"),
          "eval_s": spent("eval"), "cpu_s": cpu,
          "host_ms_per_step": 1e3 * max(0.0, wall - busy - critical) / steps}


HEADER = (f"{'engine':>8} {'options':>12} {'kernels':>7} {'S':>3} "
          f"{'wall s':>8} {'indiv/h':>8} {'programs':>8} {'moved':>5} "
          f"{'loaded':>6} {'compile s':>9} {'crit s':>7} {'train s':>8} "
          f"{'eval s':>7} {'busy':>6} {'host ms/step':>12} {'CPU s':>7} "
          f"{'compile %CPU':>12} {'devices':>7}")


def format_row(r: dict) -> str:
  """A row of HEADER's table."""
  return (f"{r['engine']:>8} {r['options']:>12} {r['kernels']:>7} "
          f"{r['slots']:>3} {r['wall_s']:>8.1f} {r['per_hour']:>8.0f} "
          f"{r['compiles']:>8} {r['relocated']:>5} {r['loaded']:>6} "
          f"{r['compile_total_s']:>9.1f} {r['compile_s']:>7.1f} "
          f"{r['train_s']:>8.1f} {r['eval_s']:>7.1f} {r['busy']:>6.1%} "
          f"{r['host_ms_per_step']:>12.3f} {r['cpu_s']:>7.1f} "
          f"{r['compile_total_s'] / max(r['cpu_s'], 1e-9):>12.1%} "
          f"{r['devices']:>7}{' warm' if r['warm'] else ''}"
          f"{' store ' + r['store'] if r['store'] else ''}"
          + (f" (compiling's CPU, cold - warm: {r['compile_cpu_s']:.1f} s, "
             f"{r['compile_cpu_share']:.1%} of the cold row's)"
             if r.get("compile_cpu_s") is not None else ""))


def compare_paths(argv: list[str], paths: list[str]) -> None:
  """Each of `paths` (PATHS) replayed in its own process, one table."""
  unknown = sorted(set(paths) - set(PATHS))
  if unknown:
    raise ValueError(f"--paths {','.join(unknown)}: choose among "
                     f"{', '.join(PATHS)}")
  base = None
  for name in paths:
    out = subprocess.run(
        [sys.executable, os.path.abspath(__file__), *argv, *PATHS[name],
         "--json"], stdout=subprocess.PIPE, text=True, check=True).stdout
    for line in out.splitlines():
      if not line.startswith("{"):
        print(f"[{name}] {line}")
        continue
      if base is None:
        print(f"{HEADER} {'path':>4} {'x':>6}")
      r = json.loads(line)
      base = base or r["per_hour"]
      print(f"{format_row(r)} {name:>4} {r['per_hour'] / base:>5.2f}x",
            flush=True)


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
  p.add_argument("workdir", type=Path)
  p.add_argument("--individuals", type=int, default=40)
  p.add_argument("--first", type=int, default=0, help="skip this many "
                 "(a later, deeper part of the run; parents trained before "
                 "it are not replayed, their children start fresh)")
  p.add_argument("--slots", default="1,2,4")
  p.add_argument("--steps", type=int, default=0,
                 help="steps per individual (0: the run's)")
  p.add_argument("--data_dir", default="", help="the data (default: the "
                 "run's data.dir)")
  p.add_argument("--loop", default="", help="train.loop (default: the "
                 "run's)")
  p.add_argument("--compute_dtype", default="", help="train.compute_dtype")
  p.add_argument("--chunk_steps", type=int, default=0,
                 help="train.chunk_steps (default: the run's)")
  p.add_argument("--engines", default="network,split,layers",
                 help="train.engine values to compare (same individuals)")
  p.add_argument("--compile_options", default="auto",
                 help="train.compile_options values to compare, each with "
                 "every engine (e.g. default,fast_compile)")
  p.add_argument("--cpu_devices", type=int, default=-1, help="cpu_devices: "
                 "the XLA:CPU devices the host is split into, one lane each "
                 "(default: the run's; 0 = auto); one count per process")
  p.add_argument("--warm", action="store_true", help="also each row "
                 "trained a second time with its programs compiled (the "
                 "ceiling without compilation)")
  p.add_argument("--program_stores", default="", help="program_store "
                 "values to compare: '' (none, a cold start) or a folder of "
                 "shape-keyed programs another run filled (each row a copy), "
                 "e.g. ',/tmp/store'")
  p.add_argument("--fill_program_store", default="", help="every row "
                 "writes its shape-keyed programs into this folder (to be "
                 "read by --program_stores in a replay of another run)")
  p.add_argument("--conv_kernels", default="auto",
                 help="train.conv_kernels values to compare, each with "
                 "every engine and options (e.g. xla,eigen)")
  p.add_argument("--paths", default="", help="whole paths to compare, "
                 f"each in its own process ({', '.join(PATHS)}; e.g. "
                 "old,new): they set the four options above")
  p.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
  return p


def main(argv=None):
  args = parser().parse_args(argv)
  if args.paths:  # the other flags go to each path's process
    rest = list(sys.argv[1:] if argv is None else argv)
    rest = [a for i, a in enumerate(rest) if not a.startswith("--paths")
            and (i == 0 or rest[i - 1] != "--paths")]
    compare_paths(rest, args.paths.split(","))
    return
  config = config_lib.from_workdir(args.workdir)
  config.persistent_compile_cache = False
  config.steps_per_individual = args.steps or config.steps_per_individual
  config.data.dir = args.data_dir or config.data.dir
  config.train.loop = args.loop or config.train.loop
  config.train.compute_dtype = (args.compute_dtype
                                or config.train.compute_dtype)
  config.train.chunk_steps = args.chunk_steps or config.train.chunk_steps
  if args.cpu_devices >= 0:
    config.cpu_devices = args.cpu_devices
  config = config_lib.validate(config)
  trainer_lib.split_host(config)  # before JAX starts
  born = recorded_individuals(args.workdir, args.individuals, args.first)
  depth = max(sum(t.strip().startswith("C") for t in genome_from_json(
      e["genome"]).describe().split(">")) for e in born)
  print(f"{jax.devices()[0].device_kind} x{jax.device_count()} "
        f"({jax.default_backend()}), JAX {jax.__version__}; {len(born)} "
        f"individuals of {args.workdir} (up to {depth} convolutions), "
        f"{config.steps_per_individual} steps each, loop "
        f"{trainer_lib.train_loop(config)}, chunks of "
        f"{config.train.chunk_steps} steps")
  if not args.json:
    print(HEADER)
  for slots in [int(s) for s in args.slots.split(",")]:
    for engine, options, kernels, store in itertools.product(  # interleaved
        args.engines.split(","), args.compile_options.split(","),
        args.conv_kernels.split(","),
        [args.fill_program_store] if args.fill_program_store
        else args.program_stores.split(",")):
      config.train.engine, config.train.compile_options = engine, options
      config.train.conv_kernels, config.program_store = kernels, store
      options, kernels = trainer_lib.compile_choices(config)
      cold = None
      for warm in (False, True) if args.warm else (False,):
        r = replay(config, born, slots, warm,
                   copy_store=not args.fill_program_store)
        r.update(engine=trainer_lib.engine_for(config), options=options,
                 kernels=kernels or "-", devices=jax.device_count(),
                 warm=warm, store=store)
        if warm:  # XLA compiles on its own threads: CPU by difference
          r["compile_cpu_s"] = cold["cpu_s"] - r["cpu_s"]
          r["compile_cpu_share"] = r["compile_cpu_s"] / cold["cpu_s"]
        cold = r
        print(json.dumps(r) if args.json else format_row(r), flush=True)


if __name__ == "__main__":
  sys.exit(main())
