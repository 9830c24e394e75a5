"""Every birth, as a function from a population snapshot to events.

  birth(snapshot, strategy=, space=, key=, config=)    one child (steady state)
  initial(snapshot, space=, key=, config=)             a random initial one
  population_reset(snapshot, at)                       section 5's weight reset
  generation(snapshot, strategy=, space=, root_key=, config=, gen=)
                                                       Genetic CNN's

Nothing here publishes, waits or reads a clock: the loop (loop.py,
generational.py) takes the snapshot, publishes the events (a kill first:
on the shared store it can lose a race, and the loop then tries again
with a fresh snapshot and `attempt` + 1), and decides what happens when
too few individuals are trained to select from. Every random choice comes
from a named stream of the child's key (keys.py), so a choice depends only
on the seed, the child's id and the population it sees.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import numpy as np

from evojax_nas.evolution import events, keys
from evojax_nas.evolution.individual import Individual
from evojax_nas.genomes import escape, recombination, strings


@dataclasses.dataclass(frozen=True)
class Snapshot:
  """What a birth reads of the population, taken once per try."""
  ident: int                              # the child's (reserved) id
  individuals: dict[int, Individual]      # every born individual, by id
  now: float                              # the experiment clock
  # The strategy's selection state of the given alive individuals.
  state: Callable[[list[Individual]], Any]
  attempt: int = 0                        # > 0: selecting again (a lost race)


@dataclasses.dataclass(frozen=True)
class Birth:
  """A birth's events: the victim's `killed` (None: nobody dies), to be
  published first, and the child's `born` (None: the population is over
  its size, so only the kill, then a fresh try)."""
  killed: dict | None
  born: dict | None
  genome: Any = None                      # the child's, parsed


def birth(snap: Snapshot, *, strategy, space, key, config) -> Birth | None:
  """One reproduction event (Real et al. 2017, 3.1): the strategy's
  tournament names a parent and a victim; the victim dies if alive and
  in-training individuals fill the population; the child is the parent
  recombined (section 5) and mutated. An initial individual while fewer
  than the population were born; None while too few are alive for a
  tournament sample (the loop waits for them, or calls `initial`)."""
  inds, cap = snap.individuals, config.population_size
  if len(inds) < cap:
    return initial(snap, space=space, key=key, config=config)
  alive = [i for i in inds.values() if i.alive]
  if len(alive) < config.sample_size:
    return None
  state = snap.state(alive)
  action = strategy.ask(keys.stream(key, keys.Stream.SELECT, snap.attempt),
                        state)
  parent, victim = int(action.parent), int(action.victim)
  size = len(alive) + sum(1 for i in inds.values() if i.pending)
  killed = (events.killed(victim, t=snap.now, reason=config.strategy,
                           by=snap.ident) if size >= cap else None)
  if size - 1 >= cap:  # racing births (workers): one more kill first
    return Birth(killed, None)
  genome, born = child(snap, strategy=strategy, space=space, key=key,
                       config=config, state=state, parent=parent)
  return Birth(killed, born, genome)


def child(snap: Snapshot, *, strategy, space, key, config, state,
          parent: int) -> tuple[Any, dict]:
  """(genome, born event) of `parent`'s child: recombined, then given
  its count of mutations (section 5's schedule, else
  `mutations_per_child`), each drawn again where it does not apply
  (genomes/mutations.py)."""
  genome, prefix, weights, extra = _recombine(
      snap, strategy=strategy, key=key, config=config, state=state,
      parent=parent)
  count = escape.mutations_for(
      snap.ident, escape.parse_schedule(config.escape.mutation_rate_schedule),
      config.mutations_per_child)
  genome, name = space.mutate(genome, keys.stream(key, keys.Stream.GENOME),
                              count=count, weights=weights)
  return genome, events.born(snap.ident, t=snap.now, genome=genome,
                             parent=parent, mutation=prefix + name, **extra)


def _partner(*, strategy, key, config, state, parent: int) -> int | None:
  """Section 5: a share `recombination.probability` of children get a
  second parent, the winner of a second tournament (not the first)."""
  rec = config.recombination
  if rec.mode == "none" or not float(jax.random.uniform(
      keys.stream(key, keys.Stream.RECOMBINE))) < rec.probability:
    return None
  other = int(strategy.ask(keys.stream(key, keys.Stream.PARTNER),
                           state).parent)
  return other if other != parent else None


def _recombine(snap: Snapshot, *, strategy, key, config, state, parent):
  """Section 5's recombination: (genome to mutate, prefix of the mutation's
  name, mutation weights or None, extra fields of the born event)."""
  inds, mode = snap.individuals, config.recombination.mode
  genome, prefix, extra = inds[parent].genome, "", {}
  partner = _partner(strategy=strategy, key=key, config=config, state=state,
                     parent=parent)
  if partner is not None:
    extra["partner"] = partner
    fused = mode == "side_by_side" and recombination.side_by_side(
        genome, inds[partner].genome)
    genome, prefix = (fused, "side_by_side+") if fused else (genome, "")
  weights = None
  if mode == "mutation_probabilities":
    source = inds[parent if partner is None else partner]
    weights = extra["mutation_weights"] = recombination.perturb_weights(
        keys.stream(key, keys.Stream.MUTATION_WEIGHTS),
        source.born["mutation_weights"])
  return genome, prefix, weights, extra


def initial(snap: Snapshot, *, space, key, config) -> Birth:
  """A random initial individual: no parent, nobody dies."""
  extra = ({"mutation_weights": dict(config.mutations)}
           if config.recombination.mode == "mutation_probabilities" else {})
  genome = space.initial(keys.stream(key, keys.Stream.GENOME))
  return Birth(None, events.born(snap.ident, t=snap.now, genome=genome,
                                 parent=None, mutation="initial", **extra),
               genome)


def population_reset(snap: Snapshot, at: int) -> list[dict]:
  """Section 5's population-wide weight reset at `at` trained individuals:
  each alive individual dies, and a copy of it (ids from `snap.ident` on)
  is born to train from fresh weights."""
  out, ident = [events.population_reset(at, snap.now)], snap.ident
  for ind in [i for i in snap.individuals.values() if i.alive]:
    extra = ({"mutation_weights": ind.born["mutation_weights"]}
             if "mutation_weights" in ind.born else {})
    out += [events.killed(ind.id, t=snap.now, reason="population_reset",
                          by=ident),
            events.born(ident, t=snap.now, genome=ind.genome, parent=ind.id,
                        mutation="population_reset", **extra)]
    ident += 1
  return out


def generation(snap: Snapshot, *, strategy, space, root_key, config,
               gen: int) -> list[dict]:
  """The born events of Genetic CNN's generation `gen` (Xie & Yuille 2017,
  3.2), ids from `snap.ident` on: random strings for generation 0 (each
  from its own key), else the strategy's plan (roulette, crossover and
  mutation, from the first member's GENERATION key) applied to the
  parents' strings."""
  ids = range(snap.ident, snap.ident + config.population_size)
  if gen == 0:
    return [events.born(i, t=snap.now, genome=space.initial(keys.stream(
        keys.individual(root_key, i), keys.Stream.GENOME)), parent=None,
                        mutation="initial", generation=0) for i in ids]
  key = keys.stream(keys.individual(root_key, snap.ident),
                    keys.Stream.GENERATION)
  plan = jax.device_get(strategy.ask(keys.stream(key, keys.Stream.SELECT),
                                     snap.state([])))
  lay, g = space.layout, config.genetic
  genes = np.stack([space.genes(snap.individuals[int(p)].genome)
                    for p in plan.parents])
  children = np.asarray(strings.next_generation(
      keys.stream(key, keys.Stream.GENOME), plan, genes, g.q_mutation,
      g.q_crossover, lay.unit, lay.num_units, lay.alphabet))
  return [_member(snap, space=space, plan=plan, children=children, k=k,
                  ident=i, gen=gen) for k, i in enumerate(ids)]


def _member(snap: Snapshot, *, space, plan, children, k: int, ident: int,
            gen: int) -> dict:
  """The born event of the plan's k-th child."""
  extra = {"generation": gen}
  if plan.crossover[k]:
    name, extra["partner"] = "crossover", int(plan.parents[k ^ 1])
  else:
    name = "mutate" if plan.mutate[k] else "copy"
  return events.born(ident, t=snap.now, genome=space.from_genes(children[k]),
                     parent=int(plan.parents[k]), mutation=name, **extra)
