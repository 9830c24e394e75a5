"""NAS-Bench-201: the cell genome, the table, the simulated searches, aging."""

import json
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from conftest import train_one_chunk

from evojax_nas import strategies
from evojax_nas.compile.steps import StepCache, StepConfig
from evojax_nas.genomes import nb201, nb201_codes
from evojax_nas.genomes.dna import GenomeError
from evojax_nas.nasbench import TableError, load_table
from evojax_nas.nasbench.search import SearchConfig, run_searches

TABLE = Path(__file__).resolve().parents[2] / "shared/data/nasbench201/nb201_cifar.csv"
ARCH = ("|nor_conv_3x3~0|+|nor_conv_3x3~0|avg_pool_3x3~1|+|skip_connect~0|"
        "nor_conv_3x3~1|skip_connect~2|")


@pytest.fixture(scope="module")
def table():
  if not TABLE.is_file():
    pytest.skip(f"{TABLE} not present")
  return load_table(str(TABLE), "cifar10")


def test_cell_string_code_round_trip():
  cell = nb201.Cell.from_arch_str(ARCH)
  assert cell.arch_str() == ARCH
  assert nb201.Cell.from_code(cell.code) == cell
  assert nb201.Cell.from_json(json.loads(json.dumps(cell.to_json()))) == cell
  codes = jnp.arange(nb201.NUM_CELLS)
  np.testing.assert_array_equal(
      nb201_codes.encode(nb201_codes.decode(codes)), codes)
  with pytest.raises(GenomeError, match="NAS-Bench-201 cell string"):
    nb201.Cell.from_arch_str("|conv~0|")


def test_mutation_changes_exactly_one_edge():
  cell = nb201.Cell.from_arch_str(ARCH)
  for i in range(50):
    child = nb201_codes.decode(
        nb201_codes.mutate_code(jax.random.key(i), cell.code))
    assert int(jnp.sum(child != jnp.asarray(cell.ops))) == 1


def test_table_rows_and_errors(table, tmp_path):
  row = table.cell_row(nb201.Cell.from_arch_str(ARCH))
  assert row["index"] == 1 and row["val12"] == pytest.approx(82.834)
  assert row["test200"] == pytest.approx(93.66)
  assert table.best_test == pytest.approx(94.37, abs=0.01)
  with pytest.raises(TableError, match="in_val12"):
    load_table(str(TABLE), "imagenet16-120")
  with pytest.raises(TableError, match="not found"):
    load_table(str(tmp_path / "none.csv"), "cifar10")
  short = tmp_path / "short.csv"
  short.write_text("".join(TABLE.open().readlines()[:10]))
  with pytest.raises(TableError, match="lacks 15616"):
    load_table(str(short), "cifar10")


def test_imagenet16_columns_and_cost(table, tmp_path):
  import csv
  rows = list(csv.DictReader(TABLE.open()))
  path = tmp_path / "with_in.csv"
  with path.open("w", newline="") as f:
    w = csv.DictWriter(f, list(rows[0]) + ["in_val12", "in_test200"])
    w.writeheader()
    for r in rows:
      w.writerow(dict(r, in_val12=r["c100_val12"], in_test200=r["c100_test200"]))
  t = load_table(str(path), "imagenet16-120")
  cell = nb201.Cell.from_arch_str(ARCH)
  r = rows[1]
  assert t.cost[cell.code] == pytest.approx(
      18.204 * float(r["t_epoch_c10v"]) + 0.03 * float(r["t_valid_c10v"]),
      rel=1e-5)
  assert t.val12[cell.code] == pytest.approx(float(r["c100_val12"]))


def test_aging_kills_the_oldest():
  t = strategies.make("aging", 5, sample_size=3)
  state = t.init()
  for ident, f in zip([3, 7, 4, 9, 8], [0.9, 0.1, 0.5, 0.2, 0.3]):
    state, _ = t.tell(jax.random.key(0), state, ident, f)
  victims = {int(t.ask(jax.random.key(i), state).victim) for i in range(50)}
  assert victims == {3}  # the oldest, although it is the best
  worst = strategies.make("kill_worst", 5, sample_size=3)
  victims = {int(worst.ask(jax.random.key(i), state).victim)
             for i in range(50)}
  assert victims == {7}


@pytest.mark.parametrize("name", ["aging", "tournament", "kill_worst",
                                  "genetic", "random", "random_search"])
def test_searches_are_reproducible_and_respect_the_budget(table, name):
  cfg = SearchConfig(strategy=name, budget_s=3000.0)
  a = run_searches(cfg, table, np.arange(4))
  b = run_searches(cfg, table, np.arange(4))
  np.testing.assert_array_equal(a.codes, b.codes)
  for r in range(4):
    n = a.count[r]
    assert a.time[r, n - 2] < 3000.0 <= a.time[r, n - 1]  # last one crosses
    np.testing.assert_allclose(a.reward[r, :n], table.val12[a.codes[r, :n]])
  assert len({tuple(c[:a.count[0]]) for c in a.codes}) == 4  # seeds differ


def test_aging_beats_random_search_on_cifar10(table):
  seeds = np.arange(100)
  aging = table.test200[run_searches(SearchConfig("aging"), table,
                                     seeds).chosen()]
  rs = table.test200[run_searches(SearchConfig("random_search"), table,
                                  seeds).chosen()]
  assert aging.mean() > rs.mean()
  assert abs(aging.mean() - 93.92) < 0.30  # published REA: 93.92 +- 0.30


def test_cell_compiles_to_the_trainable_skeleton():
  cell = nb201.Cell(nb201.Cell.from_arch_str(ARCH).ops, channels=4,
                    cells_per_stage=1)
  cache = StepCache(StepConfig(num_classes=10, batch_size=4, chunk_steps=1,
                               eval_batch_size=4))
  net = cache.get(cell)
  params = net.abstract_variables["params"]
  assert {"conv_stem", "cell0_0", "reduce1", "cell2_0", "head"} <= set(params)
  assert params["head"]["kernel"].shape == (16, 10)  # 4C channels
  state = net.new_state(net.init(jax.random.key(0)))
  state, m = train_one_chunk(net, state, jnp.ones((4, 32, 32, 3), jnp.uint8),
                             jnp.zeros(4, jnp.int32), 0.1)
  assert np.isfinite(float(m["loss"]))


def test_cell_costs_are_the_counters_and_a_count_by_hand():
  """Six counted networks give every cell's cost: the sum matches the
  counter on whole networks, and the extremes match the skeleton's
  multiply-accumulates and parameters counted by hand."""
  from evojax_nas.nasbench import costs
  c = costs.cell_costs(10, 32)
  rng = np.random.default_rng(0)
  for code in [int(k) for k in rng.integers(0, nb201.NUM_CELLS, 3)]:
    ops = np.asarray(nb201_codes.decode(code)).tolist()
    whole = costs.network_costs(ops, 10, 32)
    assert c["flops"][code] == pytest.approx(whole["flops"], rel=1e-9)
    assert c["params"][code] == pytest.approx(whole["params"], rel=1e-9)
  # All edges "none": the stem, the two reduction blocks and the classifier.
  stem = 3 * 3 * 3 * 16 * 32 * 32
  reduce1 = (9 * 16 * 32 + 9 * 32 * 32 + 16 * 32) * 16 * 16
  reduce2 = (9 * 32 * 64 + 9 * 64 * 64 + 32 * 64) * 8 * 8
  skeleton = stem + reduce1 + reduce2 + 64 * 10
  # All 3x3 convolutions: 6 edges x 5 cells per stage, C^2 * 9 * H * W each.
  cells = 6 * 5 * 9 * (16 * 16 * 32 * 32 + 32 * 32 * 16 * 16 + 64 * 64 * 8 * 8)
  assert c["flops"].min() == pytest.approx(skeleton / 1e6, rel=1e-12)
  assert c["flops"].max() == pytest.approx((skeleton + cells) / 1e6,
                                           rel=1e-12)
  # Parameters: convolutions, batch norms' scale and bias, the classifier.
  bn = lambda ch: 2 * ch
  skeleton_p = (3 * 3 * 3 * 16 + bn(16)
                + 9 * 16 * 32 + bn(32) + 9 * 32 * 32 + bn(32) + 16 * 32
                + 9 * 32 * 64 + bn(64) + 9 * 64 * 64 + bn(64) + 32 * 64
                + bn(64) + 64 * 10 + 10)
  cells_p = 6 * 5 * sum(9 * ch * ch + bn(ch) for ch in (16, 32, 64))
  assert c["params"].min() == pytest.approx(skeleton_p / 1e6, rel=1e-12)
  assert c["params"].max() == pytest.approx((skeleton_p + cells_p) / 1e6,
                                            rel=1e-12)
  all_conv = int(nb201_codes.encode([nb201.OPS.index("nor_conv_3x3")] * 6))
  assert c["flops"][all_conv] == c["flops"].max()
  # ImageNet16-120: 16x16 images, a quarter of the convolutions' work.
  small = costs.cell_costs(120, 16)
  assert small["flops"].max() == pytest.approx(
      (c["flops"].max() - 64 * 10 / 1e6) / 4 + 64 * 120 / 1e6, rel=1e-9)


@pytest.mark.parametrize("mode, budget", [("pareto", 0.0),
                                          ("constrained", 20.0)])
def test_multi_objective_searches_are_reproducible(table, mode, budget):
  cfg = SearchConfig(strategy="aging", budget_s=3000.0,
                     objectives=("accuracy", "flops"), objective_mode=mode,
                     cost_budget=budget)
  a = run_searches(cfg, table, np.arange(4))
  b = run_searches(cfg, table, np.arange(4))
  np.testing.assert_array_equal(a.codes, b.codes)
  hv = a.hypervolumes(table)
  assert np.all((hv > 0) & (hv < 1)) and np.array_equal(hv,
                                                        b.hypervolumes(table))
  flops = table.costs()["flops"]
  for r in range(4):  # the front: nobody evaluated beats a member on both
    front = a.front(table, r)
    seen = a.codes[r, :a.count[r]]
    for f in front:
      assert not np.any((table.val12[seen] >= table.val12[f])
                        & (flops[seen] <= flops[f])
                        & ((table.val12[seen] > table.val12[f])
                           | (flops[seen] < flops[f])))
  if mode == "constrained":  # a quarter of all cells are within 20 MFLOPs
    single = run_searches(SearchConfig(strategy="aging", budget_s=3000.0),
                          table, np.arange(4))
    within = lambda h: np.mean(flops[h.codes[:, 10:26]] <= budget)
    assert within(a) > 0.6 > 0.4 > within(single)
