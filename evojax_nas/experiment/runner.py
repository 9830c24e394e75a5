"""`Experiment(config, workdir).run()`: one in-process evolution experiment,
resumable (`dispatch.run` chooses it, or the workers, and recycles it).

One reproduction event (Real et al. 2017, 3.1):
  key      = fold_in(root_key, child_id)                    deterministic
  action   = strategy.ask(key, state)                       pure: parent, victim
  child    = mutate(parent.genome, key)                     pure
  log      <- killed(victim), born(child)                   one atomic append
  result   = evaluator.evaluate(child, parent checkpoint)   device, disk
  log      <- trained(child, val accuracy, FLOPs, seconds)
  state    = strategy.tell(state, child, fitness)           pure

With `compile_ahead` (the default) the loop behaves like two staggered
asynchronous workers of the paper: child n+1 is born when child n starts
training (so it is selected from the population without n) and its programs
compile on a background thread while n trains. The choices stay a pure
function of the seed: birth n+1 always sees the results of children < n.

Generational strategies (the genetic algorithm) instead birth a whole
generation in one append, train its members (compiling the next member
meanwhile), then log a `generation` event with the members' fitness (the
mean over every evaluation of the same string) and kill the previous
generation; `strategy.tell` folds that event into the state.

Everything lives under `workdir`: `config.json`, `events.jsonl`,
`checkpoints/<id>/`, and at the end `results.json` and `model/`. Running
again on the same workdir replays the log and carries on; an individual that
was mid-training is trained again from the same key.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path

import jax
import ml_collections
import numpy as np

from evojax_nas import config as config_lib
from evojax_nas import strategies
from evojax_nas.compile import memory, persistent_cache
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.evaluators import TrainedEvaluator
from evojax_nas.experiment import ownership
from evojax_nas.experiment import results as results_lib
from evojax_nas.experiment.events import EventLog
from evojax_nas.experiment.history import History, Individual, replay
from evojax_nas.experiment.progress import Progress
from evojax_nas.experiment.recycle import Recycler, RecycleNeeded
from evojax_nas.reports.tensorboard import SummaryWriter
from evojax_nas.genomes import recombination, spaces, strings
from evojax_nas.train import data as data_lib
from evojax_nas.train.checkpoints import CheckpointError, CheckpointStore

log = logging.getLogger("evojax_nas")

# Fields that may differ when a workdir is resumed (budgets, display, paths).
_RESUMABLE_CHANGES = ("max_individuals", "max_steps", "time_budget_s",
                      "max_generations", "progress", "tensorboard", "data.dir",
                      "data.cache_dir", "persistent_compile_cache",
                      "compiled_networks_in_memory",
                      "persistent_cache_min_compile_s",
                      "resources.cache_map_fraction",
                      "resources.recycle_map_fraction",
                      "resources.recycle_memory_fraction")


def check_same_experiment(config, path: Path, record: bool = True):
  """Refuses to continue a workdir with a config that changes the science;
  records the config at `path` if there is none yet and `record`."""
  # Through JSON, so that tuples compare equal to the lists read back.
  new = json.loads(json.dumps(config_lib.flatten(config)))
  if not path.exists():
    if not record:
      return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(new, indent=1, sort_keys=True))
    os.replace(tmp, path)
    return
  try:
    old = json.loads(path.read_text())
  except json.JSONDecodeError:
    raise config_lib.ConfigError(f"{path} is not valid JSON; restore it or "
                                 "start a new --workdir") from None
  diff = sorted(k for k in set(old) | set(new)
                if k not in _RESUMABLE_CHANGES and old.get(k) != new.get(k))
  if diff:
    k = diff[0]
    raise config_lib.ConfigError(
        f"workdir {path.parent} holds an experiment with {k}={old.get(k)!r}, "
        f"not {new.get(k)!r}: rerun with its config or use a new --workdir")


def _effective_chunk(steps: int, chunk: int) -> int:
  """The largest chunk size <= `chunk` that divides `steps`."""
  return max(d for d in range(1, min(chunk, steps) + 1) if steps % d == 0)



def training_setup(config, workdir: Path):
  """Data, compiled-step cache, checkpoint store and trained evaluator of an
  experiment (shared by the in-process loop and every worker)."""
  d, t = config.data, config.train
  dataset = data_lib.load(d.name, d.dir or None, d.cache_dir or None,
                          d.val_size, d.split_seed, d.train_size or None)
  if t.batch_size > len(dataset.train_labels):
    raise config_lib.ConfigError(
        f"train.batch_size={t.batch_size} exceeds the "
        f"{len(dataset.train_labels):,} training images; lower it (or "
        "data.val_size, or raise data.train_size)")
  step_config = StepConfig(
      num_classes=dataset.num_classes,
      image_shape=dataset.train_images.shape[1:],
      batch_size=t.batch_size,
      chunk_steps=_effective_chunk(config.steps_per_individual,
                                   t.chunk_steps),
      eval_batch_size=t.eval_batch_size, momentum=t.momentum,
      weight_decay=t.weight_decay, crop_padding=t.crop_padding, flip=t.flip)
  checkpoints = CheckpointStore(workdir / "checkpoints")
  if config.persistent_compile_cache:
    persistent_cache.enable(workdir / "compile_cache",
                            config.persistent_cache_min_compile_s)
  max_maps = memory.max_mappings()
  cache = StepCache(step_config,
                    max_networks=config.compiled_networks_in_memory,
                    max_mappings=max_maps and max(1, int(
                        config.resources.cache_map_fraction * max_maps)))
  evaluator = TrainedEvaluator(
      dataset, step_config, checkpoints, config.steps_per_individual,
      config.weight_inheritance, config.inheritance_mode, cache)
  return dataset, step_config, checkpoints, cache, evaluator


def evaluate_or_discard(evaluator, key, ident, genome, parent, partner,
                        inherit: bool, test_above, discard):
  """`evaluator.evaluate`, except that a parent or partner whose checkpoint
  is missing or corrupt is handed to `discard(id, error)` and the child
  trains without it (from fresh weights where it was the parent)."""
  while True:
    try:
      return evaluator.evaluate(key, ident, genome, parent, inherit=inherit,
                                partner=partner, test_above=test_above)
    except CheckpointError as err:
      if parent is not None and err.individual == parent[0]:
        parent = None
      elif partner is not None and err.individual == partner[0]:
        partner = None
      else:
        raise
      discard(err.individual, err)
      log.warning("%s: individual %d is discarded; individual %d trains "
                  "without it", err, err.individual, ident)


def trained_event(ident, genome, r, t: float, wall_s: float,
                  cache_stats: dict, **extra) -> dict:
  """The log record of a trained individual."""
  return {"event": "trained", "id": ident, "t": t,
          "val_accuracy": r.val_accuracy, "test_accuracy": r.test_accuracy,
          "train_loss": r.train_loss, "train_accuracy": r.train_accuracy,
          "steps": r.steps, "flops": r.flops, "inherited": list(r.inherited),
          "partial": list(r.partial), "fresh": list(r.fresh),
          "blended": list(r.blended), "seconds": r.seconds,
          "wall_s": round(wall_s, 3), "signature": genome.signature_hash(),
          "compile_cache": cache_stats, **extra}


def threshold_for_test(config, trained_val_accuracies) -> float | None:
  """`test_above` for the evaluator: which individuals get a test score."""
  return {"all": -1.0, "none": None}.get(
      config.evaluate_test, max(trained_val_accuracies, default=-1.0))


class Experiment:
  """Holds the pieces of one run; `run()` drives it to its budget."""

  def __init__(self, config: ml_collections.ConfigDict, workdir: str | Path):
    self.config = config = config_lib.validate(config)
    self.workdir = Path(workdir).absolute()
    self.workdir.mkdir(parents=True, exist_ok=True)
    # Before anything is written: a second start on this workdir is refused.
    ownership.acquire(self.workdir, "an in-process run" if
                      config.num_workers == 0 else "the workers' launcher")
    try:
      self._set_up(config)
    except BaseException:
      ownership.release(self.workdir)
      raise

  def _set_up(self, config):
    self.log = EventLog(self.workdir / "events.jsonl")
    self.space = spaces.make(config.search_space, config)
    # Asynchronous workers may overshoot the population size by one birth
    # each for a moment (see worker.py): room for it in the strategy state.
    self.strategy = strategies.make(
        config.strategy, config.population_size + config.num_workers,
        config.sample_size, dict(config.genetic))
    self.history: History = replay(self.log.read(), self.strategy,
                                   str(self.log.path))
    # Recorded only once the data has loaded: a failed first start (a
    # wrong data.name, a missing folder) leaves the workdir free for the
    # corrected command.
    check_same_experiment(config, self.workdir / "config.json", record=False)
    self.root_key = jax.random.key(config.seed)
    self.mutation_periods = recombination.parse_schedule(
        config.escape.mutation_rate_schedule)
    (self.dataset, self.step_config, self.checkpoints, self.cache,
     self.evaluator) = training_setup(config, self.workdir)
    check_same_experiment(config, self.workdir / "config.json")
    self.tensorboard = (SummaryWriter(self.workdir / "tensorboard")
                        if config.tensorboard else None)
    self.recycler = Recycler(config.resources)
    self._session_start = time.time()
    self._elapsed_before = self.history.elapsed

  # --- time and budget ------------------------------------------------------------
  def now(self) -> float:
    """Experiment seconds, summed over sessions (downtime not counted)."""
    return round(self._elapsed_before + time.time() - self._session_start, 3)

  def budget_left(self, ahead_s: float = 0.0) -> bool:
    """Whether another child may be born; `ahead_s`: seconds that pass before
    it would start training (a child born ahead)."""
    c, h = self.config, self.history
    n = len(h.trained) + len(h.pending)
    if c.max_individuals and n >= c.max_individuals:
      return False
    if c.max_steps and n * c.steps_per_individual >= c.max_steps:
      return False
    if c.time_budget_s and self.now() + ahead_s >= c.time_budget_s:
      return False
    return True

  # --- events ---------------------------------------------------------------------
  def _born(self, ident, genome, parent, mutation, **extra) -> dict:
    return {"event": "born", "id": ident, "t": self.now(), "parent": parent,
            "mutation": mutation, "genome": genome.to_json(),
            "signature": genome.signature_hash(), **extra}

  def _killed(self, ident, reason, by=None) -> dict:
    return {"event": "killed", "id": ident, "t": self.now(), "reason": reason,
            "by": by}

  def _apply(self, *events: dict):
    """Appends events to the log, then folds them into the history."""
    self.log.append(*events)
    for e in events:
      self.history.apply(e, self.strategy)

  # --- the loop --------------------------------------------------------------------
  def _drop_alive_without_checkpoint(self):
    """Alive individuals whose checkpoint was removed (e.g. after a
    corruption report) leave the population, logged."""
    saved = set(self.checkpoints.ids())
    for ind in self.history.alive:
      if ind.id not in saved:
        log.warning("individual %d has no checkpoint; removing it from "
                        "the population", ind.id)
        self._apply(self._killed(ind.id, "checkpoint_missing"))

  def _next_birth(self) -> int:
    """Logs the next birth (and its victim) and returns the child's id."""
    h, c = self.history, self.config
    ident = h.next_id
    key = jax.random.fold_in(self.root_key, ident)
    rec = c.recombination.mode
    if len(h.individuals) < c.population_size:
      genome = self.space.initial(jax.random.fold_in(key, 1))
      extra = ({"mutation_weights": dict(c.mutations)}
               if rec == "mutation_probabilities" else {})
      self._apply(self._born(ident, genome, None, "initial", **extra))
      return ident
    action = self.strategy.ask(jax.random.fold_in(key, 0), h.state)
    parent, victim = int(action.parent), int(action.victim)
    genome, extra, prefix = h.individuals[parent].genome, {}, ""
    partner = None
    if rec != "none" and float(jax.random.uniform(
        jax.random.fold_in(key, 5))) < c.recombination.probability:
      # A second tournament picks the other parent.
      other = int(self.strategy.ask(jax.random.fold_in(key, 4),
                                    h.state).parent)
      partner = other if other != parent else None
    if partner is not None:
      extra["partner"] = partner
      if rec == "side_by_side":
        fused = recombination.side_by_side(genome,
                                           h.individuals[partner].genome)
        genome, prefix = (fused, "side_by_side+") if fused else (genome, "")
    weights = None
    if rec == "mutation_probabilities":
      source = h.individuals[partner if partner is not None else parent]
      weights = recombination.perturb_weights(jax.random.fold_in(key, 6),
                                              source.born["mutation_weights"])
      extra["mutation_weights"] = weights
    count = recombination.mutations_for(ident, self.mutation_periods,
                                        c.mutations_per_child)
    genome, name = self.space.mutate(genome, jax.random.fold_in(key, 1),
                                     count=count, weights=weights)
    events = [self._born(ident, genome, parent, prefix + name, **extra)]
    # Keep the size (alive + in training): the loser dies.
    if len(h.alive) + len(h.pending) >= c.population_size:
      events.insert(0, self._killed(victim, c.strategy, by=ident))
    self._apply(*events)
    return ident

  def _reset_population(self):
    """Population-wide weight resets (Real et al. 2017, section 5): at each
    configured count of trained individuals, every alive individual is
    replaced by a copy of itself that trains from fresh weights."""
    h = self.history
    for at in self.config.escape.reset_population_at:
      if at in h.resets or len(h.trained) < at:
        continue
      events = [{"event": "population_reset", "at": at, "t": self.now()}]
      ident = h.next_id
      for ind in h.alive:
        events.append(self._killed(ind.id, "population_reset", by=ident))
        extra = ({"mutation_weights": ind.born["mutation_weights"]}
                 if "mutation_weights" in ind.born else {})
        events.append(self._born(ident, ind.genome, ind.id,
                                 "population_reset", **extra))
        ident += 1
      self._apply(*events)
      log.info("population reset at %d trained individuals: %d retrain from "
               "fresh weights", at, (len(events) - 1) // 2)

  def _train(self, ind: Individual) -> dict:
    key = jax.random.fold_in(jax.random.fold_in(self.root_key, ind.id), 2)
    saved = set(self.checkpoints.ids())
    parent = partner = None
    if ind.parent is not None and ind.parent in saved:
      parent = (ind.parent, self.history.individuals[ind.parent].genome)
    p = ind.born.get("partner")
    if (self.config.recombination.mode == "weights" and p is not None
        and p in saved):
      partner = (p, self.history.individuals[p].genome)
    t0 = time.perf_counter()
    r = evaluate_or_discard(
        self.evaluator, key, ind.id, ind.genome, parent, partner,
        not self.space.inherits_nothing(ind.mutation),
        threshold_for_test(self.config,
                       [i.val_accuracy for i in self.history.trained]),
        self._discard)
    event = trained_event(ind.id, ind.genome, r, self.now(),
                          time.perf_counter() - t0, self.cache.stats())
    self._apply(event)
    self.recycler.count()
    self._log_scalars(event)
    log.info("individual %d (%s, parent %s): val %.4f test %s, %.1f s, %s",
                 ind.id, ind.mutation, ind.parent, r.val_accuracy,
                 "-" if r.test_accuracy is None else f"{r.test_accuracy:.4f}",
                 event["wall_s"], ind.genome.describe())
    return event

  def _recycle_if_due(self, more_work: bool):
    """At a safe point (the last result logged, nothing in training):
    hands over to a fresh process if this one nears its limits and
    `more_work` is left (finishing a run needs no fresh process)."""
    reason = more_work and self.recycler.due()
    if reason:
      log.warning("recycling the process: %s; a fresh one resumes from the "
                  "log", reason)
      self.log.append(self.recycler.event(reason, self.now()))
      raise RecycleNeeded(reason)

  def _discard(self, ident: int, err: Exception):
    """A parent whose checkpoint is unusable leaves the population."""
    del err
    if self.history.individuals[ident].killed_t is None:
      self._apply(self._killed(ident, "checkpoint_corrupt"))
    self.checkpoints.delete(ident)

  def _log_scalars(self, event: dict):
    """TensorBoard scalars after each trained individual."""
    if self.tensorboard is None:
      return
    h = self.history
    alive = [i.val_accuracy for i in h.alive]
    n = len(h.trained)
    self.tensorboard.scalars(n, {
        "val_accuracy/individual": event["val_accuracy"],
        "val_accuracy/best": h.top(1)[0].val_accuracy,
        "val_accuracy/mean_alive": float(np.mean(alive)) if alive else 0.0,
        "population/alive": len(alive),
        "throughput/individuals_per_hour": 3600.0 * n / max(event["t"], 1e-9),
        "cost/flops_total": float(h.total_flops),
    })

  def _collect_garbage(self):
    """Deletes checkpoints of the dead, except the top-k ever (the exported
    model and the ensemble may need them) and parents of pending births."""
    h = self.history
    keep = {i.id for i in h.alive} | {i.id for i in h.top(
        self.config.ensemble_size)} | {i.parent for i in h.pending} | {
            i.born.get("partner") for i in h.pending}
    for ident in self.checkpoints.ids():
      if ident not in keep:
        self.checkpoints.delete(ident)

  def _birth_ahead(self):
    """Births the next child now and compiles it while the current one
    trains, if the budget still allows it once the current one is done."""
    h = self.history
    last = h.trained[-1].trained["wall_s"] if h.trained else 0.0
    if len(h.pending) < 2 and self.budget_left(ahead_s=last):
      child = h.individuals[self._next_birth()]
      self.evaluator.compile_async(child.genome)

  # --- the generational loop (genetic algorithm) --------------------------------
  def _generation_budget_left(self) -> bool:
    c, h = self.config, self.history
    if c.max_generations and len(h.generations) > c.max_generations:
      return False  # generation 0 plus T generations done
    if c.max_individuals and len(h.trained) + c.population_size > \
        c.max_individuals:
      return False
    if c.max_steps and (len(h.trained) + c.population_size) * \
        c.steps_per_individual > c.max_steps:
      return False
    return not (c.time_budget_s and self.now() >= c.time_budget_s)

  def _birth_generation(self, gen: int) -> list[Individual]:
    """Logs the births of generation `gen` in one append: random strings
    first, then the strategy's plan applied to the parents' strings."""
    h, n, first = self.history, self.config.population_size, self.history.next_id
    ids = list(range(first, first + n))
    if gen == 0:
      events = [self._born(i, self.space.initial(jax.random.fold_in(
          jax.random.fold_in(self.root_key, i), 1)), None, "initial",
                           generation=0) for i in ids]
    else:
      key = jax.random.fold_in(jax.random.fold_in(self.root_key, first), 3)
      plan = jax.device_get(self.strategy.ask(jax.random.fold_in(key, 0),
                                              h.state))
      lay = self.space.layout
      g = self.config.genetic
      genes = np.stack([self.space.genes(h.individuals[int(p)].genome)
                        for p in plan.parents])
      children = np.asarray(strings.next_generation(
          jax.random.fold_in(key, 1), plan, genes, g.q_mutation,
          g.q_crossover, lay.unit, lay.num_units, lay.alphabet))
      events = []
      for k, i in enumerate(ids):
        extra = {"generation": gen}
        if plan.crossover[k]:
          name, extra["partner"] = "crossover", int(plan.parents[k ^ 1])
        else:
          name = "mutate" if plan.mutate[k] else "copy"
        events.append(self._born(i, self.space.from_genes(children[k]),
                                 int(plan.parents[k]), name, **extra))
    self._apply(*events)
    return [h.individuals[i] for i in ids]

  def _mean_fitness(self, ind: Individual) -> float:
    """Validation accuracy averaged over every evaluation of the same string
    (Genetic CNN, 3.2.4: a survivor is evaluated again each generation)."""
    same = [i.val_accuracy for i in self.history.trained
            if i.genome == ind.genome]
    return float(np.mean(same))

  def _finish_generation(self, gen: int, members: list[Individual]):
    h = self.history
    fitness = [self._mean_fitness(i) for i in members]
    f = np.asarray(fitness)
    best = members[int(np.argmax(f))]
    tests = [i.trained["test_accuracy"] for i in members
             if i.trained.get("test_accuracy") is not None]
    stats = {"max": float(f.max()), "min": float(f.min()),
             "mean": float(f.mean()), "median": float(np.median(f)),
             "std": float(f.std()), "best_id": best.id,
             "best_genome": best.genome.describe()}
    if len(tests) == len(members):
      stats["test"] = {"max": float(max(tests)), "min": float(min(tests)),
                       "mean": float(np.mean(tests)),
                       "median": float(np.median(tests)),
                       "std": float(np.std(tests))}
    events = [self._killed(i.id, "generation", by=gen) for i in h.alive
              if i.generation is not None and i.generation < gen]
    events.append({"event": "generation", "generation": gen, "t": self.now(),
                   "ids": [i.id for i in members], "fitness": fitness,
                   "stats": stats})
    self._apply(*events)
    log.info("generation %d: max %.4f min %.4f mean %.4f median %.4f std "
             "%.4f best %s", gen, stats["max"], stats["min"], stats["mean"],
             stats["median"], stats["std"], stats["best_genome"])

  def _run_generations(self, bar):
    h = self.history
    while True:
      gen = len(h.generations)
      members = [i for i in h.individuals.values() if i.generation == gen]
      if not members:
        if not self._generation_budget_left():
          return
        members = self._birth_generation(gen)
      for k, ind in enumerate(members):
        if ind.trained is not None:
          continue
        if self.config.compile_ahead and k + 1 < len(members):
          self.evaluator.compile_async(members[k + 1].genome)
        self._train(ind)
        self._collect_garbage()
        bar.update()
        self._recycle_if_due(k + 1 < len(members))
      self._finish_generation(gen, members)

  # --- the steady-state loop (tournament, aging, random) ----------------------------
  def _run_steady_state(self, bar):
    h = self.history
    interrupted = {i.id for i in h.pending}
    while h.pending or self.budget_left():
      self._reset_population()
      if not h.pending:
        self._next_birth()
      ind = h.pending[0]
      if ind.id in interrupted:
        log.info("training individual %d (born before this start)", ind.id)
      if self.config.compile_ahead:
        self._birth_ahead()
      self._train(ind)
      self._collect_garbage()
      bar.update()
      self._recycle_if_due(bool(h.pending) or self.budget_left())

  def run(self) -> dict:
    h = self.history
    self.log.append({"event": "started", "t": self.now(),
                     "resumed": bool(h.individuals)})
    self._drop_alive_without_checkpoint()
    try:
      with Progress(self.config, h, self.now,
                    enabled=self.config.progress) as bar:
        if self.strategy.generational:
          self._run_generations(bar)
        else:
          self._run_steady_state(bar)
    except RecycleNeeded:
      self.close(release=False)
      raise
    summary = results_lib.finalize(self)
    self.log.append({"event": "finished", "t": self.now()})
    self.close()
    return summary

  def close(self, release: bool = True):
    """Stops background work and closes files; the workdir's lock goes
    too unless not `release` (a recycle hands it to the fresh process)."""
    self.cache.close()
    if self.tensorboard is not None:
      self.tensorboard.close()
    self.checkpoints.close()
    if release:
      ownership.release(self.workdir)

