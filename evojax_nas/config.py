"""The experiment config: paper defaults, and validation of user configs.

`default_config()` holds every key with the values of Real et al. (2017) on
CIFAR-10; files in `configs/` start from it and override. `validate(config)`
rejects unknown keys and bad values with one line naming the fix.

Importing this module does not import JAX (a launcher, a report or `--help`
needs none): `validate` loads the registries of strategies and search spaces
when it is called.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import math
import os
import pathlib

import ml_collections

from evojax_nas.datasets import DATA_DIR_ENV, DATASETS
from evojax_nas.errors import ConfigError  # config.ConfigError: the same class
from evojax_nas.genomes.escape import parse_schedule
from evojax_nas.genomes.names import INSERT_WIDTHS, MUTATION_NAMES
from evojax_nas.workdir import CONFIG, SWEEP


RUNNERS = ("local", "ray")
# Costs an individual can be selected on beside accuracy (each `trained`
# event carries them under "costs"): FLOPs per image (inference, analytic),
# parameters, and the median latency of an eval batch in milliseconds.
COSTS = ("flops", "params", "latency")


# What a config.json recorded before a key existed meant, so that resuming
# such a workdir goes on making the choices it made (keys not listed: their
# default, which is what the code did before them).
LEGACY_VALUES = {"sample_replacement": "without",
                 "train.compile_options": "default",
                 "train.conv_kernels": "xla", "cpu_devices": 1}


def upgrade_recorded(flat: dict) -> dict:
  """A recorded flat config in today's keys: keys it lacks take their
  LEGACY_VALUES; `compile_ahead` (before slots) False was one slot, True
  is what the default resolves to on CPU."""
  flat = {**LEGACY_VALUES, **flat}
  if flat.pop("compile_ahead", True) is False:
    flat.setdefault("slots_per_device", 1)
  return flat


def _selection(c: ml_collections.ConfigDict) -> None:
  """What selection compares, and how."""
  c.seed = 0
  # tournament | aging | kill_worst | random | genetic (strategies/__init__.py)
  c.strategy = "tournament"
  c.search_space = "dna"            # dna | genetic_cnn | nb201
  c.population_size = 1000
  c.sample_size = 2                 # tournament sample (aging: S)
  # Whether a member can fill several places of the sample: "auto" is
  # each paper's (with for aging and kill_worst, Real et al. 2018 Alg. 1;
  # without for the 2017 tournament), or "with" / "without".
  c.sample_replacement = "auto"
  # What selection compares: "accuracy" (validation) alone, or followed by
  # costs to minimise, "flops" (analytic, per image), "params" or "latency"
  # (ms per eval batch, measured): then the tournament, aging and kill-worst
  # comparisons are multi-objective (strategies/pareto.py), "pareto" (rank,
  # then crowding, as NSGA-II) or "constrained" (the first cost at most
  # `cost_budget`, violators ranked by violation, then accuracy).
  c.objectives = ("accuracy",)
  c.objective_mode = "pareto"
  c.cost_budget = 0.0


def _budgets(c: ml_collections.ConfigDict) -> None:
  """An individual's training, the run's budgets, what it reports."""
  c.steps_per_individual = 25600
  c.max_individuals = 0             # trained individuals in total; 0 = none
  c.max_steps = 0                   # training steps in total; 0 = none
  c.time_budget_s = 0.0             # experiment wall time; 0 = none
  c.max_generations = 0             # genetic: T generations after the 0th
  c.weight_inheritance = True
  # "exact": layers whose id and shape match (the paper); "overlap": also the
  # overlapping block of a resized layer (see train/inheritance.py).
  c.inheritance_mode = "exact"
  c.initial_learning_rate = 0.1
  c.ensemble_size = 2               # top-k by validation, majority vote
  # Test accuracy at training time, for reports only (selection never reads
  # it): "new_best" = of each individual that beats the best validation
  # accuracy so far (all that the best-so-far curves need), "all", "none".
  c.evaluate_test = "new_best"
  c.progress = True                 # progress bar on an interactive terminal
  c.tensorboard = True              # scalars in WORKDIR/tensorboard
  c.mutations_per_child = 1         # >1: a raised mutation rate (section 5)


def _process(c: ml_collections.ConfigDict) -> None:
  """Slots and the devices they run on."""
  # Individuals in flight per device (each compiles while others train;
  # evolution/loop.py). 0 = auto: 2 in all on CPU (one training, the next
  # compiling), 4 per GPU or TPU. The in-process schedule depends on the
  # total S (child n sees the results of children <= n - S): a run records
  # its S and a resume keeps it.
  c.slots_per_device = 0
  # XLA:CPU devices the host is split into, one slot lane each (docs/
  # slots.md). 0 = auto: 2 for the in-process loop, else JAX's default.
  c.cpu_devices = 0


def _programs(c: ml_collections.ConfigDict) -> None:
  """Compiled programs: on disk, in memory; the process's limits."""
  # JAX's persistent compilation cache in WORKDIR/compile_cache, shared by
  # restarts and workers; compiles above the threshold (seconds) persist.
  c.persistent_compile_cache = True
  c.persistent_cache_min_compile_s = 0.0
  # Compiled programs found before tracing (train.engine "layers": keyed by
  # shapes; "split": its preparation by shapes, each architecture's step and
  # predict programs by signature), kept for every run on this machine
  # (compile/program_store.py):
  # "auto" = $EVOJAX_NAS_CACHE_DIR, else ~/.cache/evojax_nas; a folder;
  # or "" (none). At most `program_store_mb` (least recently used removed).
  c.program_store = "auto"
  c.program_store_mb = 1024
  # Architectures whose compiled programs stay in memory at most (least
  # recently used evicted; `resources.cache_map_fraction` bounds them by
  # memory mappings as well).
  c.compiled_networks_in_memory = 64
  # Limits of one long-running process (see compile/memory.py). Compiled
  # networks are also evicted (least recently used first) while the process
  # holds more memory mappings than `cache_map_fraction` of the kernel's
  # vm.max_map_count; past `recycle_map_fraction` of it, or past
  # `recycle_memory_fraction` of the machine's (or cgroup's) memory, the
  # run recycles its process: a fresh one resumes from the log, with the
  # same choices (see runs/recycle.py).
  c.resources = ml_collections.ConfigDict(dict(
      cache_map_fraction=0.4,
      recycle_map_fraction=0.75,
      recycle_memory_fraction=0.9))


def _workers(c: ml_collections.ConfigDict) -> None:
  """Asynchronous worker processes on one population."""
  # 0: one in-process loop whose choices are a pure function of the seed.
  # N >= 1: N asynchronous worker processes sharing the population store in
  # WORKDIR/population (Real et al. 2017, 3.1), started by `runner`:
  # "local" (subprocesses on this machine) or "ray" (tasks on a Ray cluster).
  c.num_workers = 0
  c.runner = "local"
  c.workers = ml_collections.ConfigDict(dict(
      claim_timeout_s=300.0,   # a silent trainer's individual is taken back
      heartbeat_s=10.0,        # how often a trainer touches its claim
      gc_grace_s=60.0,         # dead checkpoints kept this long (readers)
      max_restarts=100,        # local runner: restarts of crashed workers
      ray_address="",          # "" starts a local Ray; "auto" joins a cluster
      ray_num_cpus=1.0,        # Ray resources per worker
      ray_num_gpus=0.0,        # a node's GPUs: one worker drives them all
      # "spread": one worker per node (a STRICT_SPREAD placement group);
      # "pack": wherever Ray finds the resources; "auto": spread on a
      # cluster (ray_address set), pack on a local Ray (one node).
      ray_placement="auto",
      ray_max_retries=100,     # Ray reruns a worker lost with its node
  ))


def _variation(c: ml_collections.ConfigDict) -> None:
  """Mutations and the papers' options on them; the other genomes."""
  # Relative mutation probabilities; the paper used them untuned (uniform).
  c.mutations = ml_collections.ConfigDict({k: 1.0 for k in MUTATION_NAMES})
  # INSERT-CONVOLUTION's channels: "input" (the paper: its input's; a conv
  # inserted at the image gets 3) or "output" (beyond the paper: the layer
  # it feeds; genomes/names.py).
  c.insert_width = "input"

  # Escaping local optima and recombination (Real et al. 2017, section 5;
  # steady-state strategies on the DNA, all off by default).
  c.escape = ml_collections.ConfigDict(dict(
      # "START-END:COUNT,...": children with ids in [START, END) get COUNT
      # mutations (a period of raised mutation rate).
      mutation_rate_schedule="",
      # Counts of trained individuals at which every alive individual is
      # retrained from fresh weights (population-wide weight resets).
      reset_population_at=()))
  c.recombination = ml_collections.ConfigDict(dict(
      mode="none",        # none | mutation_probabilities | weights | side_by_side
      probability=0.5))   # share of children that get a second parent
  # The genetic algorithm (Xie & Yuille 2017): p_M, q_M, p_C, q_C.
  c.genetic = ml_collections.ConfigDict(dict(
      p_mutation=0.8, q_mutation=0.05, p_crossover=0.2, q_crossover=0.2))
  # Genetic CNN strings: nodes K_s per stage, stage widths, classifier.
  c.genetic_cnn = ml_collections.ConfigDict(dict(
      nodes=(3, 4, 5), widths=(8, 8, 16), fc_width=32, dropout=0.5))
  # NAS-Bench-201 cells trained for real: skeleton width C and cells N.
  c.nb201 = ml_collections.ConfigDict(dict(channels=16, cells_per_stage=5))


def _data(c: ml_collections.ConfigDict) -> None:
  """The data set (config.data) and its split."""
  c.name = "cifar10"
  c.dir = os.environ.get(DATA_DIR_ENV, "")
  c.cache_dir = ""             # default $EVOJAX_NAS_CACHE or ~/.cache
  # Without a folder, the archive is downloaded once into the data cache
  # (checksum verified) from here; "" = the data set's home page.
  c.url = ""
  c.val_size = 5000
  c.split_seed = 0
  c.train_size = 0             # cap on training images; 0 = all 45k
  # A resume checks that its data is the data the experiment started on
  # (WORKDIR/data.json: a digest of the decoded images and labels; a moved
  # copy matches). True: the user says a copy that differs (re-encoded) is
  # the same data set, and the run goes on with it.
  c.same_as_recorded = False



def _train(c: ml_collections.ConfigDict) -> None:
  """How an individual trains (config.train)."""
  c.batch_size = 50
  c.momentum = 0.9
  c.weight_decay = 1e-4
  c.chunk_steps = 4           # SGD steps unrolled per chunk
  # How a dispatch runs its chunks: "unrolled" (XLA:CPU: a lax.scan over
  # conv steps is ~10x slower), "scan" (lax.scan: thousands of steps per
  # host dispatch on GPUs and TPUs), "auto" (scan on GPU/TPU, else unrolled).
  c.loop = "auto"
  c.chunks_per_dispatch = 0   # 0 = auto: 1 unrolled, every chunk scan
  # "bfloat16": convolutions and activations in bfloat16 (GPU/TPU); weights,
  # optimizer state and batch statistics stay float32.
  c.compute_dtype = "float32"
  # How an architecture is compiled (only the speed differs, results agree
  # to float rounding): "network" (one program for the whole train chunk
  # with its batch preparation, one for prediction), "split" (one SGD step
  # compiled and called once a step, the batch preparation one program
  # shared by every architecture: one device, unrolled single chunks, else
  # "network"), "layers" (DNA: vertex programs shared by every architecture
  # that has that vertex's shapes; compile/layers.py), "auto"
  # (trainer.engine_for: "split" on CPU, "network" on GPU and TPU).
  c.engine = "auto"
  # XLA's options for the search's programs: "fast_compile" (XLA:CPU: ~0.72x
  # the compile time of a late demo network at the same step time, weights
  # equal to float rounding), "default" (XLA's own), "auto" (fast_compile on
  # CPU; default on GPU and TPU, where it is not measured). A retraining
  # compiles once and always takes XLA's default.
  c.compile_options = "auto"
  # XLA:CPU's convolution kernels, for the search and the retraining:
  # "eigen" (Eigen's, multi-threaded; a late demo network steps in ~0.75x
  # the time, a retrained answer in ~0.64x, weights equal to float rounding),
  # "xla" (XLA's own choice: YNNPACK in jaxlib 0.10), "auto" (eigen where
  # this jaxlib lets XLA choose). Ignored on GPU and TPU.
  c.conv_kernels = "auto"
  # True: every individual's batch split over all local devices (one lane);
  # False: each slot trains on one device (round-robin).
  c.data_parallel = False
  # A stepped learning rate: ((FRACTION, FACTOR), ...) = from FRACTION of an
  # individual's training steps on, the genome's rate × FACTOR (Genetic CNN:
  # 1e-2 for 120 of 240 epochs, 1e-3 for 60, 1e-4 for 40, 1e-5 for 20).
  # () keeps the genome's rate (Large-Scale Evolution).
  c.lr_schedule = ()
  c.eval_batch_size = 500
  c.crop_padding = 4
  c.flip = True


def default_config() -> ml_collections.ConfigDict:
  """Every key, with the values of Real et al. (2017) on CIFAR-10."""
  c = ml_collections.ConfigDict()
  for section in (_selection, _budgets, _process, _programs, _workers,
                  _variation):
    section(c)
  c.data = ml_collections.ConfigDict()
  _data(c.data)
  c.train = ml_collections.ConfigDict()
  _train(c.train)
  c.retrain = retrain_config()
  # Share of `time_budget_s` and `max_steps` spent at the end on retraining
  # the best (retrain.*); 0 = off, as in the papers. With a time budget,
  # `candidates` > 1 (beyond the papers): the best that many by validation
  # first race at the final scale for `race_fraction` of that time, equal
  # shares; the most accurate then trains on (runs/final.py).
  c.final = ml_collections.ConfigDict(dict(fraction=0.0, candidates=1,
                                           race_fraction=0.25))
  return c


def retrain_config() -> ml_collections.ConfigDict:
  """`evojax_nas retrain` (runs/retrain.py): the found architecture
  trained longer, wider or on other data. Defaults measured on the CPU
  demo's answer (docs/retraining.md)."""
  r = ml_collections.ConfigDict()
  r.name = ""               # folder under WORKDIR/retrained; "" = from below
  r.steps = 4500
  # Seconds the training may take (0 = no limit): fewer than `steps` where
  # fewer fit, timed on this machine before training (the schedule is then
  # laid over the steps that fit; the choice is saved for a resume).
  r.time_budget_s = 0.0
  # "cosine" (linear warm-up over `warmup_fraction`, then cosine to 0),
  # "stepped" (the trainer's: lr x FACTOR from FRACTION of the steps on,
  # `lr_steps`) or "constant". Cosine measured 0.6-2.6 points of test
  # accuracy above stepped at 1,500 and 4,500 steps, from the found weights
  # and from scratch.
  r.schedule = "cosine"
  r.lr_steps = ((0.5, 0.1), (0.75, 0.01))
  r.warmup_fraction = 0.02
  r.learning_rate = 0.0     # 0 = the genome's (the search's own recipe)
  r.init = "found"          # found (its weights; what fits) | scratch
  r.width = 1.0             # x every convolution's channels
  r.depth = 1               # x cells per stage (NAS-Bench-201 cells only)
  # Every convolution at least this wide after `width` (0 = as scaled;
  # beyond the papers: the search leaves narrow early layers behind).
  r.min_channels = 0
  # With `time_budget_s`: the fewest epochs worth the scale (0 = any). Where
  # the steps that fit make fewer, min_channels, then width, step down
  # (runs/retrain.py: scale_ladder) to the widest that makes them.
  r.min_epochs = 0.0
  r.label_smoothing = 0.0
  r.weight_decay = 1e-4
  r.crop_padding = 4
  r.flip = True
  r.seed = 0
  r.eval_points = 10        # validation accuracies along the way (curve)
  r.checkpoint_every_s = 120.0  # train state saved this often (resume)
  # Another data set ("" / 0 = the experiment's): the classifier is rebuilt
  # for its classes, the rest follows `init`.
  r.data = ml_collections.ConfigDict(dict(
      name="", dir="", cache_dir="", val_size=0, train_size=0))
  return r


RETRAIN_SCHEDULES = ("stepped", "cosine", "constant")


def validate_retrain(c) -> None:
  """ConfigError for bad `retrain.*` and `final.*` values."""
  r = c.retrain

  def need(ok, msg):
    if not ok:
      raise ConfigError(msg)

  need(r.steps >= 1, f"retrain.steps must be positive, got {r.steps}")
  need(r.time_budget_s >= 0, "retrain.time_budget_s must be >= 0 (0 = no "
       f"limit), got {r.time_budget_s}")
  need(r.schedule in RETRAIN_SCHEDULES, f"retrain.schedule {r.schedule!r} "
       f"unknown; valid choices: {list(RETRAIN_SCHEDULES)}")
  _check_lr_schedule(r.lr_steps, "retrain.lr_steps")
  need(0.0 <= r.warmup_fraction < 1.0, "retrain.warmup_fraction must be in "
       f"[0, 1), got {r.warmup_fraction}")
  need(r.learning_rate >= 0, "retrain.learning_rate must be >= 0 (0 = the "
       "genome's)")
  need(r.init in ("found", "scratch"), f"retrain.init {r.init!r} unknown; "
       "valid choices: ['found', 'scratch']")
  need(r.width > 0, f"retrain.width must be positive, got {r.width}")
  need(isinstance(r.min_channels, int) and r.min_channels >= 0,
       f"retrain.min_channels must be an integer >= 0, got "
       f"{r.min_channels!r}")
  need(isinstance(r.depth, int) and r.depth >= 1,
       f"retrain.depth must be a positive integer, got {r.depth!r}")
  need(r.min_epochs >= 0, f"retrain.min_epochs must be >= 0 (0 = any), got "
       f"{r.min_epochs}")
  need(0.0 <= r.label_smoothing < 1.0, "retrain.label_smoothing must be in "
       f"[0, 1), got {r.label_smoothing}")
  need(r.weight_decay >= 0, "retrain.weight_decay must be >= 0")
  need(r.crop_padding >= 0, "retrain.crop_padding must be >= 0")
  need(r.eval_points >= 1, "retrain.eval_points must be at least 1")
  need(r.checkpoint_every_s >= 0, "retrain.checkpoint_every_s must be >= 0 "
       "(0: after every dispatch)")
  need(not r.data.name or r.data.name in DATASETS, f"retrain.data.name "
       f"{r.data.name!r} unknown; valid choices: {sorted(DATASETS)}")
  need(r.name == "" or (r.name.replace("-", "").replace("_", "").replace(
      ".", "").isalnum()), f"retrain.name {r.name!r} must be a plain folder "
       "name (letters, digits, - _ .)")
  _validate_final(c.final, time_budget_s=c.time_budget_s,
                  max_steps=c.max_steps)


def _validate_final(f, time_budget_s: float, max_steps: int) -> None:
  """ConfigError for bad `final.*` values."""
  if not 0.0 <= f.fraction < 1.0:
    raise ConfigError(f"final.fraction must be in [0, 1), got {f.fraction}")
  if f.fraction and not (time_budget_s or max_steps):
    raise ConfigError("final.fraction is a share of time_budget_s or "
                      "max_steps: set one")
  if not (isinstance(f.candidates, int) and f.candidates >= 1):
    raise ConfigError("final.candidates must be an integer >= 1, got "
                      f"{f.candidates!r}")
  if f.candidates > 1 and not (f.fraction and time_budget_s):
    raise ConfigError("final.candidates > 1 race for a share of the final "
                      "stage's time: set time_budget_s and final.fraction, "
                      "or final.candidates = 1")
  if not 0.0 < f.race_fraction < 1.0:
    raise ConfigError("final.race_fraction must be in (0, 1), got "
                      f"{f.race_fraction}")


def search_budgets(config) -> tuple[int, float]:
  """(max_steps, time_budget_s) left to the search: `final.fraction` of
  each is kept for retraining the best at the end (0 = no limit stays 0)."""
  keep = 1.0 - config.final.fraction
  return int(config.max_steps * keep), config.time_budget_s * keep


def _check_lr_schedule(schedule, key: str) -> None:
  fractions = [p[0] for p in schedule if len(p) == 2]
  if not (len(fractions) == len(schedule) and all(
      0 < f <= 1 and factor > 0 for f, factor in schedule)
          and fractions == sorted(set(fractions))):
    raise ConfigError(
        f"{key} must list (FRACTION, FACTOR) pairs with increasing "
        "fractions in (0, 1] and positive factors, e.g. ((0.5, 0.1), (0.75, "
        f"0.01)); got {schedule!r}")


def _get_config(path: pathlib.Path) -> ml_collections.ConfigDict:
  spec = importlib.util.spec_from_file_location(f"_config_{path.stem}", path)
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  return module.get_config()


def sibling_config(config_file: str, name: str) -> ml_collections.ConfigDict:
  """`get_config()` of `<name>.py` in the folder of `config_file`, so that a
  variant in configs/ can start from the config it varies."""
  return _get_config(pathlib.Path(config_file).with_name(f"{name}.py"))


def load_file(config_file: str, overrides=()) -> ml_collections.ConfigDict:
  """`get_config()` of a config file with `KEY=VALUE` overrides (values
  parsed as Python literals where they are one), for commands without
  ml-collections flags."""
  path = pathlib.Path(config_file)
  if not path.is_file():
    raise ConfigError(f"config file {path} not found")
  config = _get_config(path)
  for item in overrides:
    key, sep, text = item.partition("=")
    if not sep:
      raise ConfigError(f"override {item!r} is not KEY=VALUE")
    try:
      value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
      value = text
    try:
      config.update_from_flattened_dict({key: value})
    except (KeyError, TypeError) as err:
      raise ConfigError(f"override {item!r}: {err}") from None
  return config


def _check_keys(config, reference, prefix=""):
  for key in config.keys():
    if key not in reference:
      raise ConfigError(f"unknown config field '{prefix}{key}'; valid fields: "
                        f"{sorted(reference.keys())}")
    sub, ref = config[key], reference[key]
    if isinstance(ref, ml_collections.ConfigDict):
      if not isinstance(sub, (ml_collections.ConfigDict, dict)):
        raise ConfigError(f"config field {prefix}{key} must be a group")
      _check_keys(sub, ref, f"{prefix}{key}.")


def _finite_numbers(config) -> None:
  """Every number in the config is finite (NaN and infinity are no
  setting; "no limit" is 0)."""
  for key, value in flatten(config).items():
    for v in value if isinstance(value, (tuple, list)) else (value,):
      for x in v if isinstance(v, (tuple, list)) else (v,):
        if isinstance(x, float) and not math.isfinite(x):
          raise ConfigError(f"{key} must be a finite number, got {value!r}")


def _need(ok: bool, msg: str) -> None:
  if not ok:
    raise ConfigError(msg)


def _one_of(value, key: str, choices) -> None:
  _need(value in choices, f"{key} {value!r} unknown; valid choices: "
        f"{sorted(choices)}")


def _validate_search(c, strategies, spaces) -> None:
  """The strategy, the search space, the population and the budgets."""
  _one_of(c.strategy, "strategy", strategies)
  _one_of(c.search_space, "search_space", spaces)
  _need(c.strategy != "genetic" or spaces[c.search_space].strings,
        f"strategy 'genetic' needs a string search space (genetic_cnn or "
        f"nb201), not {c.search_space!r}")
  _need(c.max_generations >= 0, "max_generations must be >= 0 (0 = no limit)")
  _need(c.population_size >= 2, "population_size must be at least 2")
  _need(2 <= c.sample_size <= c.population_size, "sample_size must be in "
        f"[2, population_size], got {c.sample_size}")
  _need(c.steps_per_individual >= 1, "steps_per_individual must be positive")
  for k in ("max_individuals", "max_steps", "time_budget_s"):
    _need(c[k] >= 0, f"{k} must be >= 0 (0 means no limit)")
  _need(c.initial_learning_rate > 0, "initial_learning_rate must be positive")
  _need(c.cost_budget >= 0.0, "cost_budget must be >= 0")
  _need(1 <= c.ensemble_size, "ensemble_size must be at least 1")
  _need(c.inheritance_mode in ("exact", "overlap"), "inheritance_mode must "
        f"be 'exact' or 'overlap', got {c.inheritance_mode!r}")
  _need(c.evaluate_test in ("new_best", "all", "none"), "evaluate_test must "
        f"be one of 'new_best', 'all', 'none', got {c.evaluate_test!r}")
  _check_objectives(tuple(c.objectives))


def _check_objectives(objectives: tuple) -> None:
  _need(objectives[:1] == ("accuracy",) and len(set(objectives)) == len(
      objectives) and set(objectives[1:]) <= set(COSTS),
        f"objectives must be 'accuracy' followed by distinct costs from "
        f"{list(COSTS)}, e.g. ('accuracy', 'flops'); got {objectives!r}")


def _validate_variation(c, recombination_modes) -> None:
  """Mutations, section 5's options, the genetic algorithm, other genomes."""
  try:
    parse_schedule(c.escape.mutation_rate_schedule)
  except ValueError as err:
    raise ConfigError(f"escape.mutation_rate_schedule: {err}") from None
  _need(all(isinstance(n, int) and n > 0
            for n in c.escape.reset_population_at),
        "escape.reset_population_at must list positive individual counts")
  _need(c.recombination.mode in recombination_modes,
        f"recombination.mode {c.recombination.mode!r} unknown; valid "
        f"choices: {list(recombination_modes)}")
  _need(0.0 <= c.recombination.probability <= 1.0,
        "recombination.probability must be in [0, 1]")
  _need((c.recombination.mode == "none" and not c.escape.reset_population_at
         and not c.escape.mutation_rate_schedule) or (
             c.search_space == "dna" and c.strategy != "genetic"),
        "escape.* and recombination.* are options of the steady-state "
        "strategies on the DNA search space")
  for k in ("p_mutation", "q_mutation", "p_crossover", "q_crossover"):
    _need(0.0 <= c.genetic[k] <= 1.0, f"genetic.{k} must be in [0, 1]")
  g = c.genetic_cnn
  _need(len(g.nodes) == len(g.widths) and all(k >= 1 for k in g.nodes),
        "genetic_cnn.nodes and genetic_cnn.widths must list the same number "
        "of stages")
  _need(all(w >= 1 for w in g.widths) and g.fc_width >= 1
        and 0.0 <= g.dropout < 1.0, "genetic_cnn.widths and fc_width must be "
        "positive and genetic_cnn.dropout in [0, 1)")
  _need(c.nb201.channels >= 1 and c.nb201.cells_per_stage >= 1,
        "nb201.channels and nb201.cells_per_stage must be positive")
  _need(c.mutations_per_child >= 1, "mutations_per_child must be at least 1")
  _one_of(c.insert_width, "insert_width", INSERT_WIDTHS)


def _validate_data_and_training(c) -> None:
  _one_of(c.data.name, "data.name", DATASETS)
  _need(c.data.val_size >= 1 and c.data.train_size >= 0, "data.val_size "
        "must be positive and data.train_size >= 0 (0 = all)")
  t = c.train
  _need(0.0 <= t.momentum < 1.0, "train.momentum must be in [0, 1), got "
        f"{t.momentum}")
  _need(t.weight_decay >= 0.0, "train.weight_decay must be >= 0, got "
        f"{t.weight_decay}")
  _need(t.crop_padding >= 0, "train.crop_padding must be >= 0")
  _need(t.batch_size >= 1 and t.eval_batch_size >= 1,
        "train.batch_size and train.eval_batch_size must be positive")
  _need(t.chunk_steps >= 1, "train.chunk_steps must be positive")
  _one_of(t.loop, "train.loop", ("auto", "unrolled", "scan"))
  _need(t.chunks_per_dispatch >= 0, "train.chunks_per_dispatch must be >= 0 "
        "(0 = auto)")
  _one_of(t.compute_dtype, "train.compute_dtype", ("float32", "bfloat16"))
  _one_of(t.engine, "train.engine", ("auto", "network", "split", "layers"))
  _one_of(t.compile_options, "train.compile_options",
          ("auto", "default", "fast_compile"))
  _one_of(t.conv_kernels, "train.conv_kernels", ("auto", "xla", "eigen"))
  _check_lr_schedule(t.lr_schedule, "train.lr_schedule")


def _validate_process(c) -> None:
  """Slots, the compilation cache, memory limits, workers."""
  _need(c.compiled_networks_in_memory >= 2,
        "compiled_networks_in_memory must be at least 2")
  for k in ("cache_map_fraction", "recycle_map_fraction",
            "recycle_memory_fraction"):
    _need(0.0 < c.resources[k] <= 1.0, f"resources.{k} must be in (0, 1], "
          f"got {c.resources[k]}")
  _need(c.persistent_cache_min_compile_s >= 0.0,
        "persistent_cache_min_compile_s must be >= 0")
  _need(c.slots_per_device >= 0, "slots_per_device must be >= 0 (0 = auto)")
  _need(c.cpu_devices >= 0, "cpu_devices must be >= 0 (0 = auto)")
  _need(isinstance(c.program_store, str), "program_store must be \"auto\", "
        "a folder, or \"\" (none)")
  _need(c.program_store_mb > 0, "program_store_mb must be > 0")
  _need(c.num_workers >= 0, "num_workers must be >= 0 (0: one in-process "
        "loop)")
  _one_of(c.runner, "runner", RUNNERS)
  w = c.workers
  for k in ("claim_timeout_s", "heartbeat_s", "gc_grace_s", "max_restarts",
            "ray_num_cpus", "ray_num_gpus", "ray_max_retries"):
    _need(w[k] >= 0, f"workers.{k} must be >= 0, got {w[k]}")
  _one_of(w.ray_placement, "workers.ray_placement", ("auto", "spread", "pack"))
  _need(w.claim_timeout_s > 2 * w.heartbeat_s > 0,
        "workers.claim_timeout_s must exceed twice workers.heartbeat_s")


def validate(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """Returns the config completed with defaults; ConfigError if invalid."""
  # pylint: disable=g-import-not-at-top
  from evojax_nas.genomes.mutations import mutation_probabilities
  from evojax_nas.genomes.recombination import RECOMBINATION_MODES
  from evojax_nas.genomes.spaces import SPACES
  from evojax_nas.strategies import STRATEGIES, from_config
  _check_keys(config, default_config())
  c = default_config()
  c.update_from_flattened_dict(dict(flatten(config)))
  _finite_numbers(c)
  _validate_search(c, STRATEGIES, SPACES)
  _validate_variation(c, RECOMBINATION_MODES)
  _validate_data_and_training(c)
  _validate_process(c)
  validate_retrain(c)
  try:
    strategy = from_config(c)
  except ValueError as err:
    raise ConfigError(str(err)) from None
  try:
    mutation_probabilities(dict(c.mutations))
  except ValueError as err:
    raise ConfigError(f"mutations: {err}") from None
  _need(c.num_workers == 0 or (
      not strategy.generational and c.recombination.mode == "none"
      and not c.escape.reset_population_at
      and not c.escape.mutation_rate_schedule),
        f"num_workers > 0 runs asynchronous steady-state evolution: strategy "
        f"{c.strategy!r} with escape.* / recombination.* options needs "
        "num_workers=0")
  return c


def from_workdir(workdir) -> ml_collections.ConfigDict:
  """The validated config an experiment directory was started with."""
  path = pathlib.Path(workdir) / CONFIG
  if (path.parent / SWEEP).is_file():
    raise ConfigError(
        f"{path.parent} is a sweep's folder, not an experiment: run the "
        "sweep's command again to continue it, or give one of its "
        "experiments (--workdir DIR/<point>/seed<S>)")
  if not path.is_file():
    raise ConfigError(f"{path} not found: start the experiment first with "
                      "--config and --workdir")
  return from_json_file(path, legacy=True)


def from_json_file(path, legacy: bool = False) -> ml_collections.ConfigDict:
  """The validated config of a flat `{"a.b": value}` JSON file (config.json
  and the like); `legacy`: a key it lacks takes its LEGACY_VALUES value
  (a workdir's record from before the key existed)."""
  path = pathlib.Path(path)
  try:
    flat = json.loads(path.read_text())
  except FileNotFoundError:
    raise ConfigError(f"config file {path} not found") from None
  except json.JSONDecodeError:
    raise ConfigError(f"{path} is not valid JSON; restore it") from None
  if legacy:
    flat = upgrade_recorded(flat)
  c = default_config()
  for key, value in flat.items():
    default = c
    for part in key.split(".")[:-1]:
      default = default[part]
    if isinstance(default.get(key.split(".")[-1]), tuple):
      value = tuple(tuple(v) if isinstance(v, list) else v for v in value)
    flat[key] = value
  c.update_from_flattened_dict(flat)
  return validate(c)


def flatten(config, prefix="") -> dict:
  """{"a.b": value} of a (nested) config."""
  out = {}
  for key in config.keys():
    value = config[key]
    if isinstance(value, (ml_collections.ConfigDict, dict)):
      out.update(flatten(value, f"{prefix}{key}."))
    else:
      out[f"{prefix}{key}"] = value
  return out
