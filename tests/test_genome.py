"""DNA invariants under mutation (property tests) and each mutation's rules."""

import json
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from evojax_nas.compile.network import DNANet
from evojax_nas.genomes import mutations as m
from evojax_nas.genomes.dna import (DNA, Edge, GenomeError, conv_chain, trivial,
                                    validate)
from evojax_nas.genomes.mutations import (MUTATIONS, mutate,
                                          mutation_probabilities)


def random_lineage(seed: int, length: int, p=None):
  dna = trivial()
  for i in range(length):
    child, name = mutate(dna, jax.random.fold_in(jax.random.key(seed), i), p)
    yield dna, child, name
    dna = child


def compiles(dna: DNA) -> bool:
  """Builds the Flax module and traces init + forward (shapes only)."""
  model = DNANet(dna.signature(), 10)
  out = jax.eval_shape(
      lambda k: model.apply(model.init(k, jnp.zeros((2, 32, 32, 3))),
                            jnp.zeros((2, 32, 32, 3))), jax.random.key(0))
  return out.shape == (2, 10)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), length=st.integers(1, 40))
def test_random_mutation_sequences_give_valid_compilable_genomes(seed, length):
  dna = trivial()
  for parent, child, name in random_lineage(seed, length):
    validate(child)
    assert name in MUTATIONS
    # Identities survive: a surviving id keeps its role, new ids are fresh.
    old = {v.id: "v" for v in parent.vertices} | {e.id: "e" for e in parent.edges}
    new = {v.id: "v" for v in child.vertices} | {e.id: "e" for e in child.edges}
    for ident, role in new.items():
      if ident in old:
        assert old[ident] == role
      else:
        assert ident >= parent.next_id
    assert child.next_id >= parent.next_id
    assert DNA.from_json(json.loads(json.dumps(child.to_json()))) == child
    dna = child
  assert compiles(dna)


@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_identity_and_learning_rate_keep_the_signature(seed):
  parent = list(random_lineage(seed, 15))[-1][1]
  key = jax.random.key(seed)
  for name in ("identity", "alter_learning_rate", "reset_weights"):
    p = mutation_probabilities({name: 1.0})
    child, got = mutate(parent, key, p)
    assert got == name
    assert child.signature() == parent.signature()
  lr_child, _ = mutate(parent, key, mutation_probabilities(
      {"alter_learning_rate": 1.0}))
  assert parent.learning_rate / 2 <= lr_child.learning_rate <= 2 * parent.learning_rate


def test_signature_ignores_learning_rate_and_subinteger_drift():
  a = conv_chain()
  b = a.replace(learning_rate=0.0123,
                edges=tuple(e.replace(channels=e.channels + 0.3)
                            for e in a.edges))
  assert a.signature() == b.signature()
  assert hash(a) != hash(b)  # genomes differ; architectures do not


def test_insert_convolution_follows_the_paper():
  rng = np.random.default_rng(0)
  seen_strides, seen_acts = set(), set()
  for _ in range(60):
    parent = conv_chain((8,), (1,))
    child = m.insert_convolution(parent, rng)
    validate(child)
    (new,) = [e for e in child.edges if e.id >= parent.next_id]
    assert new.kind == "conv" and new.kernel_size == (3, 3)
    assert new.out_channels == parent.shapes()[new.src][2]  # as its input
    seen_strides.add(new.stride_int)
    seen_acts.add(next(v for v in child.vertices if v.id == new.dst).activation)
    # The old backbone edge keeps its id and now leaves the new vertex.
    assert {e.id for e in parent.edges} <= {e.id for e in child.edges}
  assert seen_strides == {1, 2} and seen_acts == {"bn_relu", "linear"}


def test_insert_width_output_takes_the_fed_layers_width():
  """insert_width="output": the new conv has the channels of the vertex it
  now feeds (after the last vertex, its input's); the draws are the
  paper rule's, so the two children differ in that width only."""
  parent = conv_chain((8, 16, 32), (1, 2, 1))
  shapes = parent.shapes()
  ids = [v.id for v in parent.vertices]
  paper, output = m.mutations_for("input"), m.mutations_for("output")
  seen_last = seen_inner = False
  for seed in range(40):
    a = paper["insert_convolution"](parent, np.random.default_rng(seed))
    b = output["insert_convolution"](parent, np.random.default_rng(seed))
    (ea,) = [e for e in a.edges if e.id >= parent.next_id]
    (eb,) = [e for e in b.edges if e.id >= parent.next_id]
    assert ea.replace(channels=eb.channels) == eb
    pos = ids.index(eb.src)
    if pos + 1 < len(ids):
      assert eb.out_channels == shapes[ids[pos + 1]][2]
      seen_inner = True
    else:
      assert eb.out_channels == shapes[eb.src][2]
      seen_last = True
    validate(b)
  assert seen_inner and seen_last
  assert m.mutations_for("input") is m.MUTATIONS
  with pytest.raises(ValueError, match="valid choices"):
    m.mutations_for("widest")


def test_remove_convolution_and_skips_need_something_to_remove():
  rng = np.random.default_rng(0)
  assert m.remove_convolution(trivial(), rng) is None
  assert m.remove_skip(trivial(), rng) is None
  assert m.add_skip(trivial(), rng) is None  # a single vertex
  dna = conv_chain((8, 16, 32), (1, 1, 1))
  child = m.remove_convolution(dna, rng)
  assert len(child.convolutions) == 2 and len(child.vertices) == 3
  validate(child)


def test_remove_convolution_redirects_skips():
  dna = conv_chain((8, 16, 32), (1, 1, 1))      # vertices 0,1,3,5
  dna = dna.replace(edges=dna.edges + (Edge(7, 0, 3, "identity", True),
                                       Edge(8, 3, 5, "identity", True)),
                    next_id=9)
  rng = np.random.default_rng(1)
  for _ in range(20):
    validate(m.remove_convolution(dna, rng))


def test_numeric_mutations_stay_in_half_to_twice():
  rng = np.random.default_rng(0)
  dna = conv_chain((10,), (1,))
  for _ in range(200):
    c = m.alter_number_of_channels(dna, rng).convolutions[0]
    assert 5.0 <= c.channels <= 20.0
    f = m.filter_size(dna, rng).convolutions[0]
    assert f.kernel_size[0] % 2 == 1 and f.kernel_size[1] % 2 == 1
    assert (f.filter_h == 3.0) != (f.filter_w == 3.0)  # one direction only
    s = m.alter_stride(dna, rng).convolutions[0]
    assert s.stride_int in (1, 2) and math.log2(s.stride_int).is_integer()


def test_stride_can_go_back_down():
  rng = np.random.default_rng(0)
  dna = conv_chain((8,), (2,))
  strides = {m.alter_stride(dna, rng).convolutions[0].stride_int
             for _ in range(100)}
  assert strides == {1, 2, 4}


def test_add_skip_then_remove_skip():
  rng = np.random.default_rng(0)
  dna = m.add_skip(conv_chain(), rng)
  assert len(dna.skip_edges) == 1
  assert len(m.remove_skip(dna, rng).skip_edges) == 0


def test_mutation_weights_are_validated():
  with pytest.raises(ValueError, match="valid choices"):
    mutation_probabilities({"grow_wings": 1.0})
  with pytest.raises(ValueError, match="non-negative"):
    mutation_probabilities({"identity": -1.0})


@pytest.mark.parametrize("edit, message", [
    (lambda d: d.update(learning_rate=-1), "learning_rate"),
    (lambda d: d["edges"][0].update(src=99), "unknown vertices"),
    (lambda d: d["edges"][0].update(kind="deconv"), "kind"),
    (lambda d: d["vertices"][1].update(activation="gelu"), "activation"),
    (lambda d: d["edges"][0].update(channels="many"), "malformed"),
    (lambda d: d.pop("vertices"), "malformed"),
    (lambda d: d["edges"].append(dict(d["edges"][0], id=50)), "two backbone"),
])
def test_invalid_genome_json_is_rejected_with_a_reason(edit, message):
  data = conv_chain().to_json()
  data["next_id"] = 100
  edit(data)
  with pytest.raises(GenomeError, match=message):
    DNA.from_json(data)


def test_raised_mutation_rate_applies_several_mutations():
  from evojax_nas.genomes.mutations import inherits_nothing, mutate_many
  dna = conv_chain()
  child, name = mutate_many(dna, jax.random.key(3), 3)
  assert len(name.split("+")) == 3
  assert all(n in MUTATIONS for n in name.split("+"))
  validate(child)
  assert inherits_nothing("identity+reset_weights")
  assert not inherits_nothing("identity+add_skip")
