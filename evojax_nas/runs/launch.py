"""Starting N asynchronous workers, locally or on Ray, and ending the run.

`run_workers(config, workdir)` (what `run` does when `num_workers > 0`):
  * runner "local": N subprocesses `python -m evojax_nas.main worker
    --workdir DIR --name wK` on this machine, each seeing every device (a
    worker keeps `slots_per_device` individuals in flight on each: one
    worker drives the whole host; more share it); a worker that dies is
    started again, up to `workers.max_restarts` times;
  * runner "ray": N Ray tasks, each running a worker (resources
    `workers.ray_num_cpus` / `ray_num_gpus`: give a node's GPUs), one per
    node (`workers.ray_placement = "spread"`, and "auto" on a cluster: a
    STRICT_SPREAD placement group) or packed as Ray likes ("pack", and
    "auto" on a local Ray); Ray reruns a task whose
    process or node was lost (`workers.ray_max_retries`). The workdir must
    be on a file system every node sees.
The workers are started, watched and stopped as every child process of a
run is (a SIGINT or SIGTERM to the launcher goes on to them), Ray is set up
as for a sweep (processes.py). The run starts and finishes as the
in-process one does (run.py): after the workers, `events.jsonl` from the
population store (time-ordered), then `results.json`, `model/` and the
`finished` event.
"""

from __future__ import annotations

import logging
import subprocess
from pathlib import Path

import ml_collections

from evojax_nas import config as config_lib
from evojax_nas import files
from evojax_nas import strategies
from evojax_nas.evolution import events as event_format
from evojax_nas.evolution.events import EventLog
from evojax_nas.evolution.history import replay
from evojax_nas.evolution.loop import RecycleNeeded
from evojax_nas.evolution.store import PopulationStore, read_events
from evojax_nas.runs import processes
from evojax_nas.runs.run import Run
from evojax_nas.runs.worker import Worker
from evojax_nas.train import trainer as trainer_lib
from evojax_nas.workdir import EVENTS, LOGS, POPULATION

log = logging.getLogger("evojax_nas")


def start_worker(workdir: Path, name: str) -> subprocess.Popen:
  """A worker subprocess whose output goes to `<workdir>/logs/<name>.log`;
  it sees every device of the host (no per-worker device variables: its
  slots are placed on them, see train/trainer.py)."""
  (workdir / LOGS).mkdir(exist_ok=True)
  return processes.start(["worker", "--workdir", str(workdir), "--name",
                          name], log_to=workdir / LOGS / f"{name}.log")


def _run_local(config, workdir: Path):
  """N worker subprocesses, watched until all have finished; a SIGINT or
  SIGTERM to the launcher goes on to them (processes.watching), then stops
  it."""
  with processes.watching(grace_s=60.0) as workers:
    for i in range(config.num_workers):
      workers.add(f"w{i}", start_worker(workdir, f"w{i}"))
    _supervise(config, workdir, workers)


def _supervise(config, workdir: Path, workers: processes.Children):
  """Restarts crashed workers until all have finished; an error ends the
  launch (leaving `watching` kills the others)."""
  restarts = 0
  for name, code in workers.watch():
    if code == 0:
      continue
    if code == 2:  # a user error, the same for every restart
      raise config_lib.ConfigError(
          f"worker {name} stopped with an error; see "
          f"{workdir}/logs/{name}.log")
    if restarts >= config.workers.max_restarts:
      raise RuntimeError(f"workers died {restarts} times; see "
                         f"{workdir}/logs/")
    restarts += 1
    log.warning("worker %s died (exit %s); starting it again (%d/%d)",
                name, code, restarts, config.workers.max_restarts)
    workers.add(name, start_worker(workdir, name))


def _ray_worker(workdir: str, name: str) -> int | None:
  """A Ray task: one worker, reading the experiment's config.json; None if
  it recycled (near its process's memory limits: the driver starts a fresh
  task, in a fresh process since each runs once per process)."""
  logging.getLogger("evojax_nas").setLevel(logging.INFO)
  try:
    return Worker(config_lib.from_workdir(workdir), workdir, name).run()
  except RecycleNeeded:
    return None


def _one_per_node(ray, config, timeout_s: float = 120.0):
  """A scheduling strategy placing the N workers on N different nodes (a
  STRICT_SPREAD placement group of N bundles of the workers' resources);
  ConfigError if the cluster cannot hold it."""
  from ray.util.placement_group import placement_group  # pylint: disable=g-import-not-at-top
  from ray.util.scheduling_strategies import PlacementGroupSchedulingStrategy  # pylint: disable=g-import-not-at-top
  w, n = config.workers, config.num_workers
  bundle = {"CPU": w.ray_num_cpus}
  if w.ray_num_gpus:
    bundle["GPU"] = w.ray_num_gpus
  group = placement_group([dict(bundle) for _ in range(n)],
                          strategy="STRICT_SPREAD")
  ready, _ = ray.wait([group.ready()], timeout=timeout_s)
  if not ready:
    ray.util.remove_placement_group(group)
    raise config_lib.ConfigError(
        f"the Ray cluster has fewer than {n} nodes with {bundle} free: one "
        f"worker per node needs num_workers <= its nodes (or "
        f"workers.ray_placement='pack')")
  return PlacementGroupSchedulingStrategy(
      placement_group=group, placement_group_capture_child_tasks=False)


def run_ray(config, workdir: Path):
  w = config.workers
  ray = processes.ray_started(w, "runner='ray'")
  options = {}
  if w.ray_placement == "spread" or (w.ray_placement == "auto"
                                     and w.ray_address):
    options["scheduling_strategy"] = _one_per_node(ray, config)
  task = processes.ray_task(ray, w, _ray_worker, max_calls=1).options(
      **options)
  running = {task.remote(str(workdir), f"ray{i}"): f"ray{i}"
             for i in range(config.num_workers)}
  done = []
  for name, trained in processes.ray_results(ray, running):
    if trained is None:  # recycled: the same worker in a fresh process
      log.info("Ray worker %s recycled its process; starting it again", name)
      running[task.remote(str(workdir), name)] = name
    else:
      done.append(trained)
  log.info("Ray workers finished: %s individuals trained", done)


def export_events(workdir: Path) -> int:
  """Writes `events.jsonl` from the population store; returns its length."""
  events = read_events(workdir / POPULATION)
  files.write_atomic(workdir / EVENTS, event_format.lines(events), fsync=True)
  return len(events)


def start(config: ml_collections.ConfigDict, workdir: str | Path) -> Run:
  """The launcher's start (run.py): validated, config.json recorded (or
  checked against the one there), the population store's clock moved on,
  the workdir's lock held until `with` the returned Run ends."""
  run = Run(config, workdir,
            f"the launcher of {config.num_workers} workers")
  with run.starting():
    if (run.workdir / EVENTS).is_file() and not (
        run.workdir / POPULATION).is_dir():
      raise config_lib.ConfigError(
          f"{run.workdir} holds an experiment of the in-process loop; "
          "continue it with num_workers=0 or use a new --workdir")
    run.record()
    # None of our workers runs yet: the downtime since the last record
    # does not count (unless another host's workers still hold claims).
    PopulationStore(run.workdir / POPULATION, "launcher").resume_clock()
  return run


def finish(run: Run) -> dict:
  """After the workers: `events.jsonl`, then the run's finish (run.py):
  `results.json`, `model/` (the data's training split stays on the host:
  nothing trains), the `finished` event."""
  export_events(run.workdir)
  event_log = EventLog(run.workdir / EVENTS)
  history = replay(event_log.read(), strategies.from_config(run.config),
                   str(event_log.path))
  trainer = trainer_lib.build(run.config, run.workdir, for_training=False)
  try:
    return run.finish(history, trainer, now=lambda: history.elapsed,
                      note=event_log.append)
  finally:
    trainer.close()


def run_workers(config: ml_collections.ConfigDict, workdir: str | Path
                ) -> dict:
  """Runs the experiment with `config.num_workers` asynchronous workers;
  returns what `results.json` holds."""
  with start(config, workdir) as run:
    if run.config.runner == "ray":
      run_ray(run.config, run.workdir)
    else:
      _run_local(run.config, run.workdir)
    return finish(run)
