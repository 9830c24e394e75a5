"""Weight inheritance copies exactly the layers whose identity and shape match."""

import jax
import jax.numpy as jnp
import numpy as np

from evojax_nas.compile.network import DNANet
from evojax_nas.genomes import mutations as m
from evojax_nas.genomes.dna import conv_chain
from evojax_nas.train.inheritance import inherit


def init(dna, seed):
  model = DNANet(dna.signature(), 10)
  v = model.init(jax.random.key(seed), jnp.zeros((1, 32, 32, 3)))
  return {"params": v["params"], "batch_stats": v.get("batch_stats", {})}


def layers_equal(a, b, collection, layer):
  return all(np.array_equal(x, y) for x, y in zip(
      jax.tree.leaves(a[collection][layer]), jax.tree.leaves(b[collection][layer])))


def test_channel_mutation_refreshes_exactly_the_layers_whose_shape_changed():
  parent = conv_chain((8, 16, 32), (1, 2, 1))   # convs 2, 4, 6; BN 1, 3, 5
  child = parent.replace(edges=tuple(
      e.replace(channels=24.0) if e.id == 4 else e for e in parent.edges))
  pv, fresh = init(parent, 0), init(child, 1)
  got, report = inherit(fresh, pv)
  # conv_4 (out channels), bn_3 (its vertex), conv_6 (in channels) change.
  assert report["fresh"] == ["bn_3", "conv_4", "conv_6"]
  assert report["inherited"] == ["bn_1", "bn_5", "conv_2", "head"]
  for layer in report["inherited"]:
    assert layers_equal(got, pv, "params", layer)
  for layer in report["fresh"]:
    assert layers_equal(got, fresh, "params", layer)
  assert layers_equal(got, pv, "batch_stats", "bn_1")
  assert layers_equal(got, fresh, "batch_stats", "bn_3")


def test_identity_mutation_inherits_everything_and_stride_keeps_shapes():
  parent = conv_chain((8, 16), (1, 2))
  rng = np.random.default_rng(0)
  for child in (m.identity(parent, rng), m.alter_stride(parent, rng)):
    got, report = inherit(init(child, 1), init(parent, 0))
    assert report["fresh"] == []
    jax.tree.map(np.testing.assert_array_equal, got, init(parent, 0))


def test_insert_convolution_keeps_all_old_layers():
  parent = conv_chain((8, 16), (1, 2))
  child = m.insert_convolution(parent, np.random.default_rng(3))
  got, report = inherit(init(child, 1), init(parent, 0))
  new_conv = f"conv_{parent.next_id + 1}"
  assert new_conv in report["fresh"]
  assert {"conv_2", "conv_4", "head"} <= set(report["inherited"])


def test_identity_collision_with_another_shape_is_not_copied():
  a = conv_chain((8,), (1,))
  b = conv_chain((4,), (1,))  # same ids, other shapes
  got, report = inherit(init(b, 1), init(a, 0))
  assert "conv_2" in report["fresh"] and "bn_1" in report["fresh"]
  assert report["inherited"] == []  # head has in-features 4 vs 8


def test_overlap_mode_copies_the_shared_block_of_resized_layers():
  parent = conv_chain((8, 16), (1, 2))          # conv_2: 3->8, conv_4: 8->16
  child = parent.replace(edges=tuple(
      e.replace(channels=12.0, filter_h=5.0) if e.id == 2 else e
      for e in parent.edges))                   # conv_2: 5x3, 3->12
  pv, fresh = init(parent, 0), init(child, 1)
  got, report = inherit(fresh, pv, mode="overlap")
  assert set(report["partial"]) == {"conv_2", "bn_1", "conv_4"}
  assert set(report["inherited"]) == {"bn_3", "head"}
  assert report["fresh"] == []
  new_k, old_k = got["params"]["conv_2"]["kernel"], pv["params"]["conv_2"]["kernel"]
  assert new_k.shape == (5, 3, 3, 12)
  np.testing.assert_array_equal(new_k[1:4, :, :, :8], old_k)   # centred rows
  np.testing.assert_array_equal(new_k[..., 8:],
                                fresh["params"]["conv_2"]["kernel"][..., 8:])
  np.testing.assert_array_equal(got["params"]["conv_4"]["kernel"][:, :, :8],
                                pv["params"]["conv_4"]["kernel"])
  np.testing.assert_array_equal(got["batch_stats"]["bn_1"]["mean"][:8],
                                pv["batch_stats"]["bn_1"]["mean"])
  # The paper's exact mode refreshes those layers entirely.
  _, exact = inherit(fresh, pv)
  assert set(exact["fresh"]) == {"conv_2", "bn_1", "conv_4"}
