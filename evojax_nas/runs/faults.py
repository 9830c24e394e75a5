"""Fault injection: SIGKILL workers at random moments, then check the run.

`inject_faults` runs an experiment with `num_workers` workers and, every
random few seconds, SIGKILLs one of them:
  * runner "local": a random worker subprocess, started again at once under
    the same name (a new process: its old claim is taken back);
  * runner "ray": the process of a random worker that holds a claim (its
    pid is in the claim); Ray reruns the task.
After the budget is spent, `check` verifies what crash safety promises:
every individual born once, trained at most once and dead at most once
(the log replays without error), the budget complete, the population size
kept (alive + in training never above population_size + workers - 1, and
exactly population_size at the end), and every remaining checkpoint restores
(weights digest included). `taken_back` counts the claims other workers took
over from killed ones (those individuals were trained again).
"""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import threading
import time
from pathlib import Path

import ml_collections

from evojax_nas.runs import launch, processes
from evojax_nas.evolution.events import EventLog
from evojax_nas.evolution.history import replay
from evojax_nas.evolution.invariants import check_events
from evojax_nas import strategies
from evojax_nas.evolution.store import read_events
from evojax_nas.train import trainer as trainer_lib
from evojax_nas.workdir import EVENTS, FAULTS, LOGS, POPULATION

log = logging.getLogger("evojax_nas")


def _sleep(seconds: float, workers: processes.Children):
  """`seconds` asleep, a stop passed on within half a second of it."""
  deadline = time.monotonic() + seconds
  while (left := deadline - time.monotonic()) > 0:
    workers.check_stop()
    time.sleep(min(0.5, left))
  workers.check_stop()


def _kill_local(config, workdir: Path, kills: int, gap_s, rng) -> list[dict]:
  done: list[dict] = []
  t0 = time.time()
  with processes.watching() as workers:
    for i in range(config.num_workers):
      workers.add(f"w{i}", launch.start_worker(workdir, f"w{i}"))
    while workers.procs:
      if len(done) < kills:
        _sleep(rng.uniform(*gap_s), workers)
        killed = _kill_one(workers, workdir, rng)
        if killed:
          done.append({"t": round(time.time() - t0, 2), **killed})
          log.info("fault %d: SIGKILL worker %s (pid %d); restarted it",
                   len(done), killed["worker"], killed["pid"])
      else:
        time.sleep(0.5)
      for name, code in workers.ended():
        if code:  # died by itself: a bug, not an injected fault
          tail = (workdir / LOGS / f"{name}.log").read_text(
              errors="replace").splitlines()[-15:]
          raise RuntimeError(f"worker {name} exited with {code}; the end of "
                             f"{workdir}/logs/{name}.log:\n" +
                             "\n".join(tail))
  return done


def _kill_one(workers, workdir: Path, rng) -> dict | None:
  """SIGKILLs a random running worker and starts it again at once under
  the same name (a new process: its old claim is taken back); its name and
  pid, or None if none was running."""
  live = sorted(k for k, p in workers.procs.items() if p.poll() is None)
  if not live:
    return None
  name = rng.choice(live)
  proc = workers.procs[name]
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  workers.add(name, launch.start_worker(workdir, name))
  return {"worker": name, "pid": proc.pid}


def _running(pid) -> bool:
  """Whether `pid` is a live process (claims of killed workers linger
  until they are taken back)."""
  try:
    os.kill(int(pid), 0)
  except (ProcessLookupError, ValueError, TypeError):
    return False
  except PermissionError:
    return True
  return True


def _kill_ray(config, workdir: Path, kills: int, gap_s, rng) -> list[dict]:
  errors: list[BaseException] = []

  def work():
    try:
      launch.run_ray(config, workdir)
    except BaseException as err:  # pylint: disable=broad-except
      errors.append(err)

  runner = threading.Thread(target=work)
  runner.start()
  done: list[dict] = []
  t0 = time.time()
  while runner.is_alive() and len(done) < kills:
    time.sleep(rng.uniform(*gap_s))
    claims = []
    for claim in (workdir / POPULATION).glob("*/claim"):
      try:
        c = json.loads(claim.read_text())
      except (FileNotFoundError, json.JSONDecodeError):
        continue
      if c.get("pid") not in (None, os.getpid()) and _running(c["pid"]):
        claims.append(c)
    if not claims:
      continue
    victim = rng.choice(claims)
    try:
      os.kill(int(victim["pid"]), signal.SIGKILL)
    except ProcessLookupError:
      continue
    done.append({"t": round(time.time() - t0, 2), "worker": victim["worker"],
                 "pid": victim["pid"]})
    log.info("fault %d: SIGKILL Ray worker %s (pid %s)", len(done),
             victim["worker"], victim["pid"])
  runner.join()
  if errors:
    raise errors[0]
  return done


def check(config: ml_collections.ConfigDict, workdir: str | Path) -> dict:
  """The invariants above; AssertionError naming the first one broken."""
  workdir = Path(workdir)
  found = check_events(read_events(workdir / POPULATION),
                       config.population_size, config.num_workers,
                       max_individuals=config.max_individuals)
  history = replay(EventLog(workdir / EVENTS).read(),
                   strategies.from_config(config))  # raises on doubles
  trainer = trainer_lib.build(config, workdir, for_training=False)
  restored = 0
  try:
    for ident in trainer.kept():
      trainer.restore(ident, history.individuals[ident].genome)
      restored += 1
  finally:
    trainer.close()
  del found["alive"]
  return {**found, "checkpoints_restored": restored,
          "taken_back": len(list((workdir / POPULATION).glob(
              "*/claim.taken-*")))}


def inject_faults(config: ml_collections.ConfigDict, workdir: str | Path,
                  kills: int = 10, gap_s: tuple[float, float] = (1.0, 5.0),
                  seed: int = 0) -> dict:
  """Runs the experiment under `kills` SIGKILLs; returns the kills, the
  check's findings and the results."""
  run = launch.start(config, workdir)
  config, workdir = run.config, run.workdir
  rng = random.Random(seed)
  t0 = time.time()
  with run:
    if config.runner == "ray":
      faults = _kill_ray(config, workdir, kills, gap_s=gap_s, rng=rng)
    else:
      faults = _kill_local(config, workdir, kills, gap_s=gap_s, rng=rng)
    results = launch.finish(run)
    report = {"kills": faults, "wall_s": round(time.time() - t0, 1),
              "check": check(config, workdir),
              "results": {"individuals": results["individuals"],
                          "best_val": results["best"]["val_accuracy"]}}
  (workdir / FAULTS).write_text(json.dumps(report, indent=1))
  return report
