"""`retrain(workdir, individual, config)`: the found architecture trained to
its potential, into `WORKDIR/retrained/<name>/`.

The search trains each individual for a few hundred steps of its lineage;
the papers train their answer again, longer (Genetic CNN 4.2-4.3,
Regularized Evolution's scaled-up AmoebaNet). This takes the found model
(`load_model`: the best, or any kept or exported individual), scales it
(`retrain.width`, `retrain.depth`), starts from its weights where they fit
("overlap" inheritance, as the search does) or from scratch, rebuilds the
classifier for another data set's classes, and trains `retrain.steps` SGD
steps with the search's programs (train/trainer.py: its lane over every
local device, its batch order and augmentation stream) under a stepped or
cosine schedule.

A retraining is an experiment like the others: one owner (a lock on its
folder), its settings recorded in `retrain.json` (another retraining in the
same folder is refused), and its train state (weights, momentum, dropout
stream, step) saved with Orbax every `retrain.checkpoint_every_s`; a
restart continues from the last one with the same batch order and
augmentation, so its final weights equal an uninterrupted run's. It ends
with `results.json`, `model/` (exported as the search's own, so
`load_model` and `evojax_nas export` take the folder) and TensorBoard
curves.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
from tqdm.auto import tqdm

from evojax_nas import config as config_lib
from evojax_nas import files
from evojax_nas import stop
from evojax_nas.runs import ownership
from evojax_nas.runs.recorded_config import recorded
from evojax_nas.evolution.events import parse, raw_lines
from evojax_nas.model.exported import ModelError, export_model, load_model
from evojax_nas.model.vote import majority_vote
from evojax_nas.runs.tensorboard import SummaryWriter
from evojax_nas.genomes.scaling import scale
from evojax_nas.train import data as data_lib
from evojax_nas.train import trainer as trainer_lib
from evojax_nas.train.checkpoints import (CheckpointError, CheckpointStore,
                                          weights_digest)
from evojax_nas.train.data import DataError
from evojax_nas.train.inheritance import inherit
from evojax_nas.workdir import (CHECKPOINTS, EVENTS, MODEL, RESULTS,
                                 RETRAIN_SETTINGS, RETRAINED, TENSORBOARD,
                                 read_results, write_results)

log = logging.getLogger("evojax_nas")

# Settings that may change when a retraining resumes (paths, checkpoint
# cadence, how often the curve is measured: none changes the weights);
# every other retrain.* value names the retraining.
_RESUMABLE = ("checkpoint_every_s", "eval_points", "data.dir",
              "data.cache_dir", "time_budget_s")


# How a name spells a setting that is not its default.
_SHORT = {"width": "w", "depth": "d", "min_channels": "min",
          "min_epochs": "ep",
          "label_smoothing": "ls",
          "weight_decay": "wd", "learning_rate": "lr", "warmup_fraction": "wu",
          "crop_padding": "crop", "seed": "seed"}
_IN_NAME = ("name", "init", "schedule", "steps", "flip", "data.name",
            *_SHORT)


def folder_name(ident, r) -> str:
  """A readable name from the choice and the settings, e.g.
  `130-found-cosine-4500`, `130-scratch-cosine-9000-w2-ls0.1-cifar100`;
  any other setting off its default adds a short hash of them all, so that
  two different retrainings never share a folder by default."""
  default = config_lib.retrain_config()
  parts = [str(ident), r.init, r.schedule, str(r.steps)]
  parts += [f"{short}{r[key]:g}" for key, short in _SHORT.items()
            if r[key] != default[key]]
  if not r.flip:
    parts.append("noflip")
  if r.data.name:
    parts.append(r.data.name)
  flat, base = config_lib.flatten(r), config_lib.flatten(default)
  others = {k: v for k, v in flat.items() if k not in _IN_NAME
            and k not in _RESUMABLE and v != base[k]}
  if others:
    parts.append(hashlib.sha1(json.dumps(
        others, sort_keys=True).encode()).hexdigest()[:6])
  return "-".join(parts)


def _settings(r, ident, genome) -> dict:
  """What identifies a retraining: its retrain.* values and the genome."""
  flat = json.loads(json.dumps(config_lib.flatten(r)))
  return {"individual": ident, "genome": genome.to_json(),
          **{k: v for k, v in flat.items() if k not in _RESUMABLE}}


def _write_json(path: Path, obj) -> None:
  files.write_atomic(path, json.dumps(obj, indent=1))


def _check_folder(out: Path, settings: dict) -> None:
  """Records the settings in a new folder; refuses one that holds another
  retraining."""
  path = out / RETRAIN_SETTINGS
  old = recorded(path, settings, record=True,
                 fix=f"remove {out} to retrain from the start")
  if old is None:
    return
  for key in sorted(set(old) | set(settings)):
    if old.get(key) != settings.get(key):
      what = "another architecture" if key == "genome" else (
          f"{key}={old.get(key)!r}, not {settings.get(key)!r}")
      raise config_lib.ConfigError(
          f"{out} holds a different retraining ({what}); use its settings, "
          "another --config.retrain.name, or remove the folder")


def training_config(config) -> ml_collections.ConfigDict:
  """The experiment's config as the trainer of the retraining sees it:
  `retrain.steps` per individual, its augmentation and decay, its data,
  data-parallel over every local device."""
  c = ml_collections.ConfigDict(config.to_dict())
  r = c.retrain
  c.steps_per_individual = r.steps
  c.train.weight_decay = r.weight_decay
  c.train.crop_padding = r.crop_padding
  c.train.flip = r.flip
  c.train.data_parallel = True
  c.train.lr_schedule = ()
  c.train.compile_options = "default"  # one architecture: its speed counts
  # One architecture trained for minutes: one fused program, compiled once
  # (the per-unit engine steps slower and keeps no dropout stream to save).
  c.train.engine = "network"
  if trainer_lib.train_loop(c)[0] == "scan" and not c.train.chunks_per_dispatch:
    # A scan over every chunk would leave no point to validate or save at:
    # at least `eval_points` dispatches.
    c.train.chunks_per_dispatch = max(
        1, r.steps // c.train.chunk_steps // r.eval_points)
  _retraining_data(c.data, r.data)
  return c


def build_trainer(config, out: Path):
  """The trainer of a retraining into `out` (one slot; `training_config`)."""
  return trainer_lib.build(training_config(config), out, slots=1,
                           label_smoothing=config.retrain.label_smoothing)


def close_trainer(trainer, out: Path) -> None:
  trainer.close()
  # The trainer's per-individual store: a retraining saves none.
  with contextlib.suppress(OSError):
    (out / CHECKPOINTS).rmdir()


def _retraining_data(d, r) -> None:
  """`retrain.data.*` over the experiment's `data.*` ("" / 0: its own)."""
  if r.name:
    d.name, d.dir, d.url = r.name, r.dir or d.dir, ""
  d.cache_dir = r.cache_dir or d.cache_dir
  d.val_size = r.val_size or d.val_size
  if r.name or r.train_size:
    d.train_size = r.train_size


def _same_data(found, dataset) -> bool:
  return (found.info.get("data") == dataset.name
          and tuple(found.class_names) == tuple(dataset.class_names))


def start_variables(net, key, found, r, same_classes: bool):
  """Fresh variables, or (init=found) the found model's where they fit:
  whole layers where shapes match, the overlapping block of a widened one;
  a classifier for other classes starts fresh."""
  fresh = net.init(key)
  if r.init == "scratch":
    return fresh, {"inherited": [], "partial": [],
                   "fresh": sorted(fresh["params"])}
  parent = {col: dict(layers) for col, layers in found.variables.items()}
  if not same_classes:
    parent["params"].pop("head", None)
  return inherit(fresh, jax.tree.map(np.asarray, parent), "overlap")


def _state_tree(state) -> dict:
  """The train state as Orbax saves it: numbered leaves, the dropout key
  as its raw data."""
  leaves = jax.tree.leaves(state.replace(rng=jax.random.key_data(state.rng)))
  return {f"{i:05d}": np.asarray(x) for i, x in enumerate(leaves)}


def _from_tree(template, tree: dict):
  plain = template.replace(rng=jax.random.key_data(template.rng))
  leaves = [tree[k] for k in sorted(k for k in tree if k[:1].isdigit())]
  state = jax.tree.unflatten(jax.tree.structure(plain), leaves)
  return state.replace(rng=jax.random.wrap_key_data(
      jnp.asarray(state.rng), impl="rbg"))


class StateStore:
  """The retraining's train state in `out/state/<step>` (the newest kept)."""

  def __init__(self, directory: Path):
    self.store = CheckpointStore(directory, async_save=False)

  def latest(self):
    """(state tree, meta) of the newest whole save, or None; a damaged one
    is logged and removed (the retraining starts over rather than stop)."""
    for step in reversed(self.store.ids()):
      try:
        return self.store.restore(step)
      except CheckpointError as err:
        log.warning("retraining state at step %d is unusable (%s); "
                    "removed", step, err)
        self.store.delete(step)
    return None

  def save(self, step: int, state, meta: dict) -> None:
    with stop.held():
      self.store.save(step, _state_tree(state), meta)
      for old in self.store.ids():
        if old != step:
          self.store.delete(old)
      self.store.remove_temporaries()

  def clear(self) -> None:
    """Removes every saved state."""
    for step in self.store.ids():
      self.store.delete(step)

  def close(self):
    self.store.close()


def _eval_dispatches(dispatches: int, points: int) -> set[int]:
  """The dispatches after which validation is measured: `points` evenly
  spaced ones, the last always."""
  return {max(0, -(-j * dispatches // points) - 1)
          for j in range(1, points + 1)}


def retrain(workdir: str | Path, individual: int | None = None,
            config: ml_collections.ConfigDict | None = None,
            trainer=None) -> dict:
  """Retrains individual `individual` (default: the run's best) of the
  experiment in `workdir` with `config.retrain` (default: the recorded
  config's) and returns its results (also in `results.json`). `trainer`:
  one built by `build_trainer` for this retraining's folder, shared (the
  final race's: its data loaded, its programs compiled)."""
  workdir = Path(workdir).absolute()
  config = config_lib.validate(config if config is not None
                               else config_lib.from_workdir(workdir))
  r = config.retrain
  if individual is None and not (workdir / MODEL).is_dir():
    individual = best_so_far(workdir)  # a run still going
  try:
    found = load_model(workdir, individual)
  except FileNotFoundError as err:
    raise ModelError(str(err)) from None
  ident = found.info.get("id", individual)
  genome = scale(found.genome, r.width, r.depth, min_channels=r.min_channels)
  out = workdir / RETRAINED / (r.name or folder_name(ident, r))
  out.mkdir(parents=True, exist_ok=True)
  with ownership.held(out, "a retraining"):
    _check_folder(out, _settings(r, ident, genome))
    done = out / RESULTS
    if done.is_file() and (out / MODEL).is_dir():
      log.info("retraining %s finished already: %s", out.name, done)
      return read_results(out)
    log.info("retraining individual %s into %s: %s", ident, out,
             genome.describe())
    return Retraining(config, out, found, ident=ident, genome=genome,
                      trainer=trainer).run()


def best_so_far(workdir: Path) -> int:
  """A running experiment's best individual by validation accuracy among
  those whose checkpoint it keeps (read without writing: the run's own
  process owns the log)."""
  kept = kept_by_validation(workdir)
  if not kept:
    raise ModelError(f"{workdir} has no trained individual with a kept "
                     "checkpoint yet: wait for the run, or give --individual")
  return kept[0][0]


def kept_by_validation(workdir: Path) -> list[tuple[int, float]]:
  """(id, validation accuracy) of the trained individuals whose checkpoints
  are kept, the most accurate first (ties: the older)."""
  trained = []
  for line in raw_lines(workdir / EVENTS) if (
      workdir / EVENTS).is_file() else ():
    try:
      e = parse(line)
    except ValueError:
      continue  # a line being written
    if e.get("event") == "trained" and not e.get("failed"):
      trained.append(e)
  kept = [e for e in trained
          if (workdir / CHECKPOINTS / str(e["id"])).is_dir()]
  return [(e["id"], e["val_accuracy"]) for e in sorted(
      kept, key=lambda e: (-e["val_accuracy"], e["id"]))]


def scale_ladder(r) -> list[tuple[float, int]]:
  """The (width, min_channels) a time-bound retraining may fall back to,
  widest first: the configured ones, `min_channels` halved while it stays
  at least 8, none, then width 1 (a floor of 32 channels on a full-
  resolution stem the search left 3 channels wide ran 268 ms a step on
  the hour's seed 2: 5 epochs fit; docs/results.md)."""
  width, least = r.width, r.min_channels
  ladder = [(width, least)]
  least //= 2
  while least >= 8:
    ladder.append((width, least))
    least //= 2
  ladder += [(width, 0)] + ([(1.0, 0)] if width > 1 else [])
  return list(dict.fromkeys(ladder))


def time_a_step(net, lane, state, k: int, seconds: float = 2.0) -> float:
  """Seconds a training step takes: about `seconds` of dispatches of `k`
  steps in a row, as training runs them, on a copy of `state` (donated by
  the program; the copy's results are dropped). The first dispatch,
  which compiles, is not counted."""
  d = lane.data
  rates = jax.device_put(np.full(k, 1e-3, np.float32), lane.replicated)
  key = jax.device_put(trainer_lib.fast_key(jax.random.key(0)),
                       lane.replicated)
  order = lane.batch_order(jnp.uint32(0))
  scratch = [jax.tree.map(lambda x: x.copy(), state)]

  def run(n: int) -> float:
    t = time.perf_counter()
    for _ in range(n):
      scratch[0], metrics = net.train_dispatch(
          scratch[0], d.train_images, d.train_labels, order=order,
          dispatch=lane.dispatch_numbers[0], key=key, mean=d.mean, std=d.std,
          lr=rates)
      if lane.block_each_dispatch:
        jax.block_until_ready(metrics)
    jax.block_until_ready(scratch[0])
    return time.perf_counter() - t

  run(1)
  n = max(4, int(seconds / max(run(4) / 4, 1e-4)))
  return run(n) / (n * k)


class Retraining:
  """One retraining's pieces: trainer, network, state store, curves."""

  def __init__(self, config, out: Path, found, ident, genome, trainer=None):
    self.started = time.perf_counter()  # `time_budget_s` counts from here
    self.config, self.r, self.out = config, config.retrain, out
    self.found, self.ident, self.genome = found, ident, genome
    self.steps = self.r.steps   # fewer where `time_budget_s` says so
    self.scale = (self.r.width, self.r.min_channels)  # the scale trained
    self.tried, self.per_eval = [], 0.0  # `_fit`'s timings
    self.owns_trainer = trainer is None
    self.trainer = trainer or build_trainer(config, out)
    d = self.trainer.dataset
    self.same_data = _same_data(found, d)
    shape = tuple(found.info.get("image_shape", (32, 32, 3)))
    if self.r.init == "found" and shape != tuple(d.train_images.shape[1:]):
      raise DataError(
          f"{d.source} has images of shape {tuple(d.train_images.shape[1:])}"
          f", the found model takes {shape}: retrain with "
          "--config.retrain.init=scratch or use images of its shape")

  def run(self) -> dict:
    try:
      return self._run()
    finally:
      if self.owns_trainer:
        close_trainer(self.trainer, self.out)

  def _run(self) -> dict:
    r = self.r
    lane = self.trainer.lane(0)
    store = StateStore(self.out / "state")
    saved = store.latest()
    curve, seconds, start = [], 0.0, 0
    if saved is not None:
      tree, meta = saved
      self._rescale(*meta.get("scale", self.scale))
      net, state, report = self._start(lane)
      state = jax.device_put(_from_tree(state, tree), lane.replicated)
      curve, seconds, start = meta["curve"], meta["seconds"], meta["step"]
      self.steps = meta.get("steps", r.steps)
      self.tried = meta.get("tried", [])
      log.info("resuming %s at step %d of %d", self.out.name, start,
               self.steps)
    else:
      net, state, report = self.prepare(lane)
    tb = (SummaryWriter(self.out / TENSORBOARD)
          if self.config.tensorboard else None)
    try:
      state, curve, seconds = self.train(
          net, lane, state, store=store, curve=curve, seconds=seconds,
          start=start, tb=tb)
    finally:
      store.close()
      if tb is not None:
        tb.close()
    return self._finish(net, state, curve, seconds=seconds, report=report)

  def prepare(self, lane):
    """The network, its train state at step 0 and what it inherited; with
    `retrain.time_budget_s`, at the scale and steps that fit (`_fit`)."""
    return self._fit(lane) if self.r.time_budget_s else self._start(lane)

  def meta(self, step: int, curve: list, seconds: float) -> dict:
    """What a saved train state needs beside its arrays to go on."""
    return {"step": step, "curve": curve, "seconds": seconds,
            "steps": self.steps, "scale": list(self.scale),
            "tried": self.tried}

  def _keys(self):
    """(init, data order, augmentation, dropout) keys of `retrain.seed`."""
    return jax.random.split(jax.random.key(self.r.seed), 4)

  def _start(self, lane):
    """The network of `self.genome`, its train state from the start
    variables (`start_variables`) and what they inherited."""
    t = self.trainer
    k_init, _, _, k_dropout = self._keys()
    net = t.cache.get(self.genome, mesh=lane.mesh)
    variables, report = start_variables(
        net, k_init, self.found, r=self.r, same_classes=tuple(
            self.found.class_names) == tuple(t.dataset.class_names))
    state = net.new_state(variables, seed=int(
        jax.random.bits(k_dropout, dtype=jnp.uint32)))
    return net, state, report

  def _rescale(self, width: float, min_channels: int) -> None:
    self.scale = (float(width), int(min_channels))
    self.genome = scale(self.found.genome, width, self.r.depth,
                        min_channels=min_channels)

  def _fit(self, lane):
    """`retrain.time_budget_s`: the steps that fit, at the widest scale of
    `scale_ladder` whose steps make `retrain.min_epochs` epochs (the last
    rung where none does). A rung is timed only where its FLOPs, at the
    last timed rung's seconds per FLOP, leave it a chance."""
    target = self._target_steps()
    ladder = scale_ladder(self.r)
    timed = []  # (width, min_channels, train-step FLOPs, seconds a step)
    for i, (width, least) in enumerate(ladder):
      self._rescale(width, least)
      net = self.trainer.cache.get(self.genome, mesh=lane.mesh)
      flops = net.flops()["train_step"]
      last = i == len(ladder) - 1
      if timed and not last and self._affordable(
          timed[-1][3] * flops / timed[-1][2]) < target:
        continue
      net, state, report = self._start(lane)
      self.steps, per_step = self._steps_that_fit(net, lane, state)
      timed.append((width, least, flops, per_step))
      if self.steps >= target or last:
        break
    self.tried = [{"width": w, "min_channels": m, "train_step_flops": f,
                   "seconds_per_step": round(s, 5)} for w, m, f, s in timed]
    return net, state, report

  def _target_steps(self) -> int:
    """Steps of `retrain.min_epochs` epochs (at most `retrain.steps`)."""
    return min(self.r.steps,
               int(np.ceil(self.r.min_epochs * self._steps_per_epoch())))

  def _steps_per_epoch(self) -> float:
    t = self.trainer
    return len(t.dataset.train_labels) / t.cfg.batch_size

  def train(self, net, lane, state, store, curve, seconds, start, tb,
            until: float | None = None):
    """Trains from step `start` to `self.steps`, or (`until`, a
    `time.perf_counter()` deadline) pauses after the dispatch that passes
    it, with a curve point there; returns (state, curve, seconds)."""
    r, t, d = self.r, self.trainer, lane.data
    _, k_data, k_aug, _ = self._keys()
    k = t.cfg.steps_per_dispatch
    base = r.learning_rate or self.genome.learning_rate
    rates = trainer_lib.scheduled_rates(
        base, self.steps, r.schedule, lr_steps=r.lr_steps,
        warmup_fraction=r.warmup_fraction)
    chunks = trainer_lib.per_dispatch(rates, k, lane.replicated)
    order = lane.batch_order(jnp.uint32(jax.random.bits(k_data,
                                                        dtype=jnp.uint32)))
    key = jax.device_put(trainer_lib.fast_key(k_aug), lane.replicated)
    evals = _eval_dispatches(len(chunks), r.eval_points)
    if not curve:
      curve = [self._point(0, state, None, rate=rates[0], tb=tb)]
    t0 = time.perf_counter()
    last_save = time.perf_counter()
    bar = tqdm(total=self.steps, initial=start, unit="step", dynamic_ncols=True,
               disable=not (self.config.progress and os.isatty(2)))
    with bar:
      for i in range(start // k, len(chunks)):
        state, metrics = net.train_dispatch(
            state, d.train_images, d.train_labels, order=order,
            dispatch=lane.dispatch_numbers[i], key=key, mean=d.mean,
            std=d.std, lr=chunks[i])
        if lane.block_each_dispatch:
          jax.block_until_ready(metrics)
        step = (i + 1) * k
        bar.update(k)
        now = time.perf_counter()
        pause = until is not None and now >= until and step < self.steps
        if i in evals or pause:
          curve.append(self._point(step, state, metrics, rate=rates[step - 1],
                                   tb=tb))
          bar.set_postfix(val=f"{curve[-1]['val_accuracy']:.4f}")
        if pause:
          break
        if (store is not None and step < self.steps
            and now - last_save >= r.checkpoint_every_s):
          store.save(step, state, self.meta(step, curve, seconds + now - t0))
          last_save = time.perf_counter()
    return state, curve, seconds + time.perf_counter() - t0

  def _steps_that_fit(self, net, lane, state) -> tuple[int, float]:
    """Steps (at most `retrain.steps`) that `retrain.time_budget_s` buys at
    this network's speed here (`time_a_step`), less the time since the
    retraining began (data, compilation) and a validation's time per curve
    point and for the answer; and the seconds a step."""
    r = self.r
    k = self.trainer.cfg.steps_per_dispatch
    per_step = time_a_step(net, lane, state, k=k)
    t = time.perf_counter()
    self.trainer.accuracy(self.genome, state.variables(), "val")
    self.per_eval = time.perf_counter() - t
    steps = min(r.steps, max(k, int(self._affordable(per_step)) // k * k))
    log.info("%s at width %g, min_channels %d: %.1f ms a step, %.1f s a "
             "validation: %d steps fit %.0f s", self.out.name, *self.scale,
             1e3 * per_step, self.per_eval, steps, r.time_budget_s)
    return steps, per_step

  def _affordable(self, per_step: float) -> float:
    """Steps that the time left buys at `per_step` seconds, after the
    curve's validations (at the last measured `per_eval` each)."""
    left = (self.r.time_budget_s - (time.perf_counter() - self.started)
            - (self.r.eval_points + 4) * self.per_eval)
    return left / per_step

  def _point(self, step, state, metrics, rate, tb) -> dict:
    """A point of the curve: validation accuracy (and the last chunk's
    training loss and accuracy) at `step`; TensorBoard's too."""
    point = {"step": step, "val_accuracy": self.trainer.accuracy(
        self.genome, state.variables(), "val")}
    if metrics is not None:
      m = jax.device_get(metrics)
      point.update(train_loss=float(m["loss"]),
                   train_accuracy=float(m["accuracy"]))
    if tb is not None:
      tb.scalars(step, {"retrain/val_accuracy": point["val_accuracy"],
                        "retrain/learning_rate": float(rate),
                        **{f"retrain/{k}": v for k, v in point.items()
                           if k.startswith("train_")}})
    return point

  def _found_accuracies(self) -> dict:
    """The found model's accuracies: measured on this data set where it is
    the search's, else as the search recorded them (on its data)."""
    f, t = self.found, self.trainer
    if self.same_data:
      return {s: t.accuracy(f.genome, f.variables, s.split("_")[1])
              for s in ("found_val", "found_test")}
    return {"found_val": f.info.get("val_accuracy"),
            "found_test": f.info.get("test_accuracy")}

  def _costs(self, net, n_curve: int) -> dict:
    """FLOPs (per image, per step, in all: the steps and the curve's
    validations) and parameters of the retrained network."""
    t = self.trainer
    f = net.flops()
    n_evals = n_curve * -(-len(t.dataset.val_labels) // t.cfg.eval_batch_size)
    return {"flops": {"per_image": t.costs(self.genome)["flops"],
                      "train_step": f["train_step"],
                      "total": f["train_step"] * self.steps
                               + f["eval_batch"] * n_evals},
            "params": t.costs(self.genome)["params"]}

  def _finish(self, net, state, curve, seconds, report) -> dict:
    t, r, d = self.trainer, self.r, self.trainer.dataset
    variables = jax.tree.map(np.asarray, state.variables())
    val = t.accuracy(self.genome, variables, "val")
    test = t.accuracy(self.genome, variables, "test")
    found = self._found_accuracies()
    info = {"id": self.ident, "val_accuracy": val, "test_accuracy": test,
            "data": d.name, "image_shape": list(d.train_images.shape[1:]),
            "retrained": {"steps": self.steps, "init": r.init,
                          "width": self.scale[0], "depth": r.depth,
                          "min_channels": self.scale[1]}}
    export_model(self.out / MODEL, self.genome, variables,
                 class_names=d.class_names, mean=d.mean, std=d.std, info=info)
    results = {
        "individual": self.ident, "name": self.out.name,
        "val_accuracy": val, "test_accuracy": test, "steps": self.steps,
        "epochs": round(self.steps / self._steps_per_epoch(), 2),
        "scale": {"width": self.scale[0], "min_channels": self.scale[1],
                  "tried": self.tried},
        **self._costs(net, n_curve=len(curve)),
        "seconds": round(seconds, 1),
        "found_val_accuracy": found["found_val"],
        "found_test_accuracy": found["found_test"],
        "found_data": self.found.info.get("data"),
        "found_description": self.found.genome.describe(),
        "description": self.genome.describe(),
        "learning_rate": r.learning_rate or self.genome.learning_rate,
        "inherited": report,
        "curve": curve,
        "weights_sha256": weights_digest(variables),
        "data": {"name": d.name, "source": d.source,
                 "train": int(len(d.train_labels)),
                 "val": int(len(d.val_labels)),
                 "test": int(len(d.test_labels)),
                 "classes": d.num_classes},
        "config": json.loads(json.dumps(config_lib.flatten(r))),
        # As a search's results.json names its answer: `evojax_nas export
        # --workdir` on this folder reports these accuracies.
        "best": {"id": self.ident, "val_accuracy": val,
                 "test_accuracy": test},
    }
    path = write_results(self.out, results)
    shutil.rmtree(self.out / "state", ignore_errors=True)
    log.info("retrained %s: val %.4f, test %.4f (found: val %s, test %s), "
             "%d steps, %.0f s -> %s", self.out.name, val, test,
             _pct(found["found_val"]), _pct(found["found_test"]), self.steps,
             seconds, path)
    return results


def _pct(x) -> str:
  return "-" if x is None else f"{x:.4f}"


def ensemble(workdir: str | Path, retrained: list[dict], config) -> dict:
  """The retrained members' majority vote on the test set (as the search's
  top-k ensemble votes), written to `retrained/ensemble-<settings>.json`."""
  workdir = Path(workdir).absolute()
  d = training_config(config).data
  ds = data_lib.load(d.name, d.dir or None, d.cache_dir or None,
                     val_size=d.val_size, split_seed=d.split_seed,
                     train_size=d.train_size or None)
  probs = []
  for r in retrained:
    model = load_model(workdir / RETRAINED / r["name"])
    probs.append(np.concatenate([model.probabilities(x) for x in np.array_split(
        ds.test_images, -(-len(ds.test_images) // 1000))]))
  out = {"members": [r["name"] for r in retrained],
         "test_accuracy": float(np.mean(majority_vote(probs)
                                        == ds.test_labels)),
         "vote": "majority"}
  path = workdir / RETRAINED / f"{folder_name('ensemble', config.retrain)}.json"
  _write_json(path, out)
  return dict(out, path=str(path))
