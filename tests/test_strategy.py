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


def _parent_frequencies(t, state, n_keys=20000):
  keys = jax.random.split(jax.random.key(3), n_keys)
  parents = np.asarray(jax.vmap(lambda k: t.ask(k, state).parent)(keys))
  return parents


@pytest.mark.parametrize("replace", [True, False])
def test_the_sample_with_and_without_replacement(replace):
  """Aging's sample of S=3 from 5 alive individuals (3 dead slots): with
  replacement each member is uniform over the alive, so the parent (the
  sample's best) has rank k of n from the bottom with probability
  (k/n)^S - ((k-1)/n)^S (Real et al. 2018, Algorithm 1); without, the
  worst two can never win. Dead slots are never drawn."""
  t = Tournament(8, 3, kill="oldest", replace=replace)
  fitness = [0.3, 0.1, 0.5, 0.2, 0.4]  # id i has rank order[i] from below
  state, _ = populated(t, fitness)
  parents = _parent_frequencies(t, state)
  assert set(np.unique(parents)) <= set(range(5))
  n, s = 5, 3
  rank = np.argsort(np.argsort(fitness))  # 0 = worst
  freq = np.bincount(rank[parents], minlength=n) / len(parents)
  if replace:
    want = [((k + 1) / n) ** s - (k / n) ** s for k in range(n)]
  else:  # the best of 3 distinct of 5: rank k wins C(k, 2) / C(5, 3)
    want = [k * (k - 1) / 2 / 10 for k in range(n)]
  np.testing.assert_allclose(freq, want, atol=0.012)
  # The victim is the oldest alive either way.
  assert int(t.ask(jax.random.key(0), state).victim) == 0


def test_the_papers_samples_by_default():
  make = strategies.make
  assert make("aging", 10, sample_size=3).replace
  assert make("kill_worst", 10, sample_size=3).replace
  assert not make("aging", 10, sample_size=3,
                  sample_replacement="without").replace
  assert not make("tournament", 10).replace
  with pytest.raises(ValueError, match="applies to"):
    make("tournament", 10, sample_replacement="with")
  with pytest.raises(ValueError, match="valid choices"):
    make("aging", 10, sample_replacement="sometimes")
  with pytest.raises(ValueError, match="outside the sample"):
    Tournament(10, 3, kill="sample_worst", replace=True)


def test_with_replacement_fills_a_sample_larger_than_the_alive():
  t = Tournament(6, 4, kill="oldest", replace=True)
  state, _ = populated(t, [0.2, 0.9])  # two alive, four free slots
  parents = _parent_frequencies(t, state, 2000)
  assert set(np.unique(parents)) == {0, 1}
  assert np.mean(parents == 1) == pytest.approx(1 - 0.5 ** 4, abs=0.03)


def alive(state) -> list[int]:
  return [int(i) for i in state.ids if i >= 0]
