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
Then it writes `events.jsonl` from the population store (time-ordered) and
finishes like the in-process loop: `results.json`, `model/`.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import ml_collections

from evojax_nas import config as config_lib
from evojax_nas.runs import ownership
from evojax_nas.runs import results as results_lib
from evojax_nas.evolution.loop import RecycleNeeded
from evojax_nas.evolution import events
from evojax_nas.evolution.events import EventLog
from evojax_nas.evolution.history import replay
from evojax_nas.strategies import from_config as make_strategy
from evojax_nas.runs.recorded_config import check_same_experiment
from evojax_nas.workdir import CONFIG, EVENTS, LOGS, POPULATION, refuse_sweep
from evojax_nas.evolution.store import PopulationStore, read_events
from evojax_nas.runs.worker import Worker
from evojax_nas.train import trainer as trainer_lib

log = logging.getLogger("evojax_nas")


def worker_command(workdir: Path, name: str) -> list[str]:
  return [sys.executable, "-m", "evojax_nas.main", "worker", "--workdir",
          str(workdir), "--name", name]


def start_worker(workdir: Path, name: str) -> subprocess.Popen:
  """A worker subprocess whose output goes to `<workdir>/logs/<name>.log`;
  it sees every device of the host (no per-worker device variables: its
  slots are placed on them, see train/trainer.py)."""
  (workdir / LOGS).mkdir(exist_ok=True)
  out = open(workdir / LOGS / f"{name}.log", "ab")  # pylint: disable=consider-using-with
  try:
    return subprocess.Popen(worker_command(workdir, name), stdout=out,
                            stderr=subprocess.STDOUT, env=dict(os.environ))
  finally:
    out.close()


def _stop_workers(procs: dict, signum: int, grace_s: float = 60.0):
  """Passes `signum` on to the workers and waits for them (SIGKILL after
  `grace_s`): nothing of theirs is left running."""
  for p in procs.values():
    if p.poll() is None:
      p.send_signal(signum)
  deadline = time.time() + grace_s
  for p in procs.values():
    try:
      p.wait(timeout=max(0.0, deadline - time.time()))
    except subprocess.TimeoutExpired:
      p.kill()
      p.wait()


def _run_local(config, workdir: Path):
  n = config.num_workers
  procs = {f"w{i}": start_worker(workdir, f"w{i}") for i in range(n)}
  signals: list[int] = []
  previous = {}
  if threading.current_thread() is threading.main_thread():
    for s in (signal.SIGINT, signal.SIGTERM):
      previous[s] = signal.signal(s, lambda signum, _: signals.append(signum))
  try:
    _supervise(config, workdir, procs, signals)
  finally:
    for s, handler in previous.items():
      signal.signal(s, handler)


def _supervise(config, workdir: Path, procs: dict, signals: list):
  """Restarts crashed workers until all have finished; a SIGINT or SIGTERM
  to the launcher goes on to the workers, then stops it (KeyboardInterrupt
  naming the signal)."""
  restarts = 0
  while procs:
    time.sleep(0.5)
    if signals:
      log.warning("stopping: passing %s on to the workers and waiting for "
                  "them", signal.Signals(signals[0]).name)
      _stop_workers(procs, signals[0])
      raise KeyboardInterrupt(signal.Signals(signals[0]).name)
    for name, proc in sorted(procs.items()):
      code = proc.poll()
      if code is None:
        continue
      if code == 0:
        del procs[name]
      elif code == 2:  # a user error, the same for every restart
        for p in procs.values():
          p.kill()
        raise config_lib.ConfigError(
            f"worker {name} stopped with an error; see "
            f"{workdir}/logs/{name}.log")
      elif restarts < config.workers.max_restarts:
        restarts += 1
        log.warning("worker %s died (exit %s); starting it again (%d/%d)",
                    name, code, restarts, config.workers.max_restarts)
        procs[name] = start_worker(workdir, name)
      else:
        for p in procs.values():
          p.kill()
        raise RuntimeError(f"workers died {restarts} times; see "
                           f"{workdir}/logs/")


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
  try:
    import ray  # pylint: disable=g-import-not-at-top
  except ImportError:
    raise config_lib.ConfigError(
        "runner='ray' needs Ray: pip install 'evojax-nas[ray]'") from None
  w = config.workers
  if not ray.is_initialized():
    ray.init(address=w.ray_address or None, include_dashboard=False,
             log_to_driver=True)
  options = {}
  if w.ray_placement == "spread" or (w.ray_placement == "auto"
                                     and w.ray_address):
    options["scheduling_strategy"] = _one_per_node(ray, config)
  task = ray.remote(num_cpus=w.ray_num_cpus, num_gpus=w.ray_num_gpus,
                    max_retries=w.ray_max_retries, max_calls=1)(
                        _ray_worker).options(**options)
  running = {task.remote(str(workdir), f"ray{i}"): f"ray{i}"
             for i in range(config.num_workers)}
  done = []
  while running:
    ready, _ = ray.wait(list(running), num_returns=1)
    name = running.pop(ready[0])
    trained = ray.get(ready[0])
    if trained is None:  # recycled: the same worker in a fresh process
      log.info("Ray worker %s recycled its process; starting it again", name)
      running[task.remote(str(workdir), name)] = name
    else:
      done.append(trained)
  log.info("Ray workers finished: %s individuals trained", done)


def export_events(workdir: Path) -> int:
  """Writes `events.jsonl` from the population store; returns its length."""
  events = read_events(workdir / POPULATION)
  tmp = workdir / "events.jsonl.tmp"
  tmp.write_text("".join(json.dumps(e, sort_keys=True) + "\n"
                         for e in events))
  os.replace(tmp, workdir / EVENTS)
  return len(events)


def prepare_workdir(config: ml_collections.ConfigDict, workdir: str | Path
                    ) -> tuple[ml_collections.ConfigDict, Path]:
  """Validates, records config.json (or checks it against the one there)
  and creates the population store's folder, holding the workdir's lock
  (release with `ownership.release`)."""
  config = config_lib.validate(config)
  workdir = Path(workdir).absolute()
  refuse_sweep(workdir)
  workdir.mkdir(parents=True, exist_ok=True)
  ownership.acquire(workdir, f"the launcher of {config.num_workers} workers")
  try:
    if (workdir / EVENTS).is_file() and not (
        workdir / POPULATION).is_dir():
      raise config_lib.ConfigError(
          f"{workdir} holds an experiment of the in-process loop; continue "
          "it with num_workers=0 or use a new --workdir")
    check_same_experiment(config, workdir / CONFIG)
    # None of our workers runs yet: the downtime since the last record
    # does not count (unless another host's workers still hold claims).
    PopulationStore(workdir / POPULATION, "launcher").resume_clock()
  except BaseException:
    ownership.release(workdir)
    raise
  return config, workdir


def finish(config: ml_collections.ConfigDict, workdir: Path) -> dict:
  """After the workers: `events.jsonl`, `results.json`, `model/` (the
  data's training split stays on the host: nothing trains)."""
  export_events(workdir)
  event_log = EventLog(workdir / EVENTS)
  history = replay(event_log.read(), make_strategy(config),
                   str(event_log.path))
  trainer = trainer_lib.build(config, workdir, for_training=False)
  try:
    summary = results_lib.finalize(config, workdir, history, trainer,
                                   history.elapsed)
  finally:
    trainer.close()
  event_log.append(events.finished(history.elapsed))
  return summary


def run_workers(config: ml_collections.ConfigDict, workdir: str | Path
                ) -> dict:
  """Runs the experiment with `config.num_workers` asynchronous workers;
  returns what `results.json` holds."""
  config, workdir = prepare_workdir(config, workdir)
  try:
    if config.runner == "ray":
      run_ray(config, workdir)
    else:
      _run_local(config, workdir)
    return finish(config, workdir)
  finally:
    ownership.release(workdir)
