"""Tournament selection and the random control, as pure functions."""

import jax
import numpy as np
import pytest

from evojax_nas import strategies
from evojax_nas.strategies import Tournament


def populated(strategy, fitness):
  state = strategy.init()
  for i, f in enumerate(fitness):
    state, metrics = strategy.tell(jax.random.key(0), state, i, f)
  return state, metrics


def test_the_worse_of_the_pair_dies():
  t = Tournament(8)
  fitness = np.linspace(0.1, 0.8, 8)
  state, metrics = populated(t, fitness)
  assert int(metrics["size"]) == 8
  assert float(metrics["best"]) == pytest.approx(0.8)
  pairs = set()
  for i in range(300):
    a = t.ask(jax.random.key(i), state)
    parent, victim = int(a.parent), int(a.victim)
    assert parent != victim
    assert fitness[parent] > fitness[victim]
    pairs.add((parent, victim))
  assert len(pairs) == 28  # every pair of 8 gets sampled


def test_random_control_ignores_fitness():
  t = strategies.make("random", 4)
  fitness = [0.1, 0.2, 0.3, 0.9]
  state, _ = populated(t, fitness)
  better_dies = sum(fitness[int(a.victim)] > fitness[int(a.parent)] for a in
                    (t.ask(jax.random.key(i), state) for i in range(200)))
  assert 60 < better_dies < 140  # about half the time


def test_remove_then_tell_reuses_the_slot_and_skips_the_dead():
  t = Tournament(3)
  state, _ = populated(t, [0.5, 0.6, 0.7])
  state = t.remove(state, 1)
  assert alive(state) == [0, 2]
  for i in range(50):
    a = t.ask(jax.random.key(i), state)
    assert {int(a.parent), int(a.victim)} == {0, 2}
  state, metrics = t.tell(jax.random.key(0), state, 3, 0.1)
  assert sorted(alive(state)) == [0, 2, 3] and int(metrics["size"]) == 3


def test_reproducible_from_the_key():
  t = Tournament(10)
  state, _ = populated(t, np.random.default_rng(0).random(10))
  a = [t.ask(jax.random.key(7), state) for _ in range(2)]
  assert int(a[0].parent) == int(a[1].parent)
  assert int(a[0].victim) == int(a[1].victim)


def test_registry_names_the_choices():
  with pytest.raises(ValueError, match="valid choices"):
    strategies.make("annealing", 10)
  with pytest.raises(ValueError, match="population_size"):
    Tournament(1)


def alive(state) -> list[int]:
  return [int(i) for i in state.ids if i >= 0]
