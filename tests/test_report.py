"""Reports: the HTML page (in a real headless browser), the architecture
drawing, TensorBoard files, and the Colab notebook executed end to end."""

import functools
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from evojax_nas import run
from evojax_nas.config import default_config
from evojax_nas.genomes.dna import DNA, Edge, Vertex, trivial
from evojax_nas.reports import architecture, report

ROOT = Path(__file__).resolve().parents[1]


def _tiny(cifar10_dir, cache, **overrides):
  c = default_config()
  c.update_from_flattened_dict({
      "population_size": 3, "steps_per_individual": 8, "max_individuals": 7,
      "progress": False, "data.dir": str(cifar10_dir),
      "data.cache_dir": str(cache), "data.val_size": 100,
      "train.batch_size": 20, "train.chunk_steps": 2,
      "train.eval_batch_size": 100, **overrides})
  return c


@pytest.fixture(scope="module")
def finished_run(cifar10_dir, tmp_path_factory):
  root = tmp_path_factory.mktemp("report")
  workdirs = []
  for name, overrides in (("evolution", {}), ("evolution_seed1", {"seed": 1}),
                          ("random", {"strategy": "random"})):
    run(_tiny(cifar10_dir, root / "cache", **overrides), root / name)
    workdirs.append(root / name)
  return workdirs


def _skip_net(with_skip: bool) -> DNA:
  edges = [Edge(2, 0, 1, "conv", False, 3.0, 3.0, 1.0, 8.0),
           Edge(4, 1, 3, "conv", False, 3.0, 3.0, 2.0, 16.0),
           Edge(6, 3, 5, "conv", False, 3.0, 3.0, 1.0, 16.0)]
  if with_skip:
    edges.append(Edge(7, 1, 5, "identity", True))
  return DNA((Vertex(0), Vertex(1, "bn_relu"), Vertex(3, "bn_relu"),
              Vertex(5, "bn_relu")), tuple(edges), 0.1, 8)


def _red_pixels(path) -> int:
  import matplotlib.image as mpimg
  img = mpimg.imread(path)[..., :3]
  target = np.array([0xD6, 0x27, 0x28]) / 255.0  # the skip colour
  return int((np.abs(img - target).sum(-1) < 0.12).sum())


def test_architecture_drawing_shows_the_skip(tmp_path):
  with_skip, without = _skip_net(True), _skip_net(False)
  graph = architecture.genome_graph(with_skip)
  assert [(e.src, e.dst) for e in graph.edges if e.kind == "skip"] == [("1", "5")]
  assert any("conv 3x3 /2, 16 ch" == e.label for e in graph.edges)
  architecture.draw(with_skip, tmp_path / "skip.png")
  architecture.draw(without, tmp_path / "plain.png")
  assert _red_pixels(tmp_path / "skip.png") > 50  # the skip arc is drawn
  assert _red_pixels(tmp_path / "plain.png") == 0


@pytest.mark.slow
def test_report_numbers_match_results(finished_run, tmp_path):
  index = report.build(finished_run, tmp_path / "out")
  page = index.read_text()
  results = json.loads((finished_run[0] / "results.json").read_text())

  def cell(key):
    return re.search(f'id="{key}">([^<]*)<', page).group(1)
  assert float(cell("best-test")) == pytest.approx(
      results["best"]["test_accuracy"], abs=1e-4)
  assert float(cell("best-val")) == pytest.approx(
      results["best"]["val_accuracy"], abs=1e-4)
  assert float(cell("ensemble-test")) == pytest.approx(
      results["ensemble"]["test_accuracy"], abs=1e-4)
  assert int(cell("individuals")) == results["individuals"]
  assert int(cell("best-id")) == results["best"]["id"]
  assert float(cell("total-flops")) == pytest.approx(
      results["total_flops"], rel=1e-3)
  # Every run's accuracy-FLOPs front too (its events record the costs).
  for png in ("progress", "best_so_far", "architecture", "pareto_front"):
    assert (tmp_path / "out" / f"{png}.png").stat().st_size > 1000
  assert page.count("data:image/png;base64,") == 4  # self-contained


def test_report_of_a_run_in_progress(finished_run, tmp_path):
  partial = tmp_path / "partial"
  partial.mkdir()
  shutil.copy(finished_run[0] / "config.json", partial)
  lines = (finished_run[0] / "events.jsonl").read_text().splitlines()
  cut = [i for i, l in enumerate(lines) if '"trained"' in l][3]
  (partial / "events.jsonl").write_text("\n".join(lines[:cut + 1]) +
                                        '\n{"event": "bo')  # torn tail
  before = (partial / "events.jsonl").read_bytes()
  page = report.build([partial]).read_text()
  assert "in progress" in page
  assert re.search('id="individuals">4<', page)
  assert (partial / "events.jsonl").read_bytes() == before  # read only


# What reading a log must not load: the loop, the strategies, what trains
# and compiles, JAX itself (genomes are plain Python, and the log's check
# needs no strategy).
_NOT_FOR_A_REPORT = ("evojax_nas.evolution.loop",
                     "evojax_nas.evolution.history", "evojax_nas.strategies",
                     "evojax_nas.compile",
                     "evojax_nas.train", "evojax_nas.runs", "jax", "flax",
                     "optax", "orbax")


def test_a_report_loads_neither_the_loop_nor_jax(
    tiny_config, fitness_from_signature, tmp_path):
  """In a fresh process, the report of a run and of a log from before
  trained events carried costs (it says the parameters were not
  recorded rather than building the network to count them)."""
  del fitness_from_signature
  tiny_config.tensorboard = False
  run(tiny_config, tmp_path / "wd")
  old = tmp_path / "old"
  old.mkdir()
  shutil.copy(tmp_path / "wd" / "config.json", old)
  lines = [json.loads(l) for l in
           (tmp_path / "wd" / "events.jsonl").read_text().splitlines()]
  (old / "events.jsonl").write_text("".join(
      json.dumps({k: v for k, v in e.items() if k != "costs"}) + "\n"
      for e in lines))
  code = ("import sys; from evojax_nas.commands import report; "
          "[report.main(['--workdir', w]) for w in sys.argv[1:]]; "
          f"loaded = sorted(m for m in sys.modules if m.startswith("
          f"{_NOT_FOR_A_REPORT!r})); assert not loaded, loaded")
  subprocess.run([sys.executable, "-c", code, str(tmp_path / "wd"),
                  str(old)], check=True, cwd=ROOT)
  assert re.search(r'id="best-params">\d+<', (
      tmp_path / "wd" / "report" / "index.html").read_text())
  assert f'id="best-params">{report.NO_PARAMS}<' in (
      old / "report" / "index.html").read_text()


# --- the report's check of a log: what the strategy's replay refuses -------------
_GENOME = trivial().to_json()


def _born(ident, **fields):
  return {"event": "born", "id": ident, "t": float(ident), "parent": None,
          "mutation": "initial", "genome": _GENOME, **fields}


def _trained(ident, **fields):
  return {"event": "trained", "id": ident, "t": ident + 0.5,
          "val_accuracy": 0.1 * ident, "costs": {"flops": 10.0 * ident},
          **fields}


_SOUND = [_born(0), _born(1), _born(3), _trained(0), _trained(1),
          {"event": "killed", "id": 0, "t": 2.0, "reason": "sample_worst"},
          _born(2, parent=1), _trained(2)]  # 3 still training
_BAD = dict(_GENOME, edges=[{"id": 5, "src": 0, "dst": 9}])
_DAMAGE = {  # what goes in as line 7 (the rest shifts down)
    "born twice": _born(1), "trained unknown": _trained(9),
    "trained twice": _trained(1),
    "killed twice": {"event": "killed", "id": 0, "t": 3.0},
    "killed without t": {"event": "killed", "id": 1},
    "born without parent": {k: v for k, v in _born(5).items()
                            if k != "parent"},
    "bad genome": _born(5, genome=_BAD), "unknown format": _born(
        5, genome={"format": "x/1"}),
    "trained without costs": {k: v for k, v in _trained(3).items()
                              if k != "costs"},
    "not JSON": "{oops", "not an object": [1, 2], "none": None,
    "time no number": dict(_born(5), t="soon"),
    "trained without accuracy": {k: v for k, v in _trained(3).items()
                                 if k != "val_accuracy"},
    "accuracy no number": dict(_trained(3), val_accuracy="high"),
    "reset without count": {"event": "population_reset", "t": 3.0},
    "slots no number": {"event": "started", "t": 0.0, "slots": "two"}}


@functools.lru_cache(maxsize=None)
def _strategy(costs):
  """One per cost setting: its jitted tell and remove compile once."""
  from evojax_nas import strategies  # pylint: disable=g-import-not-at-top
  return strategies.make("tournament", 4, costs=costs)


@pytest.mark.parametrize("costs", [(), ("flops",)])
@pytest.mark.parametrize("damage", sorted(_DAMAGE))
def test_the_reports_check_refuses_what_the_replay_refuses(tmp_path, damage,
                                                           costs):
  """Line for line and (but where JAX says it) word for word, with no
  strategy (so no JAX)."""
  from evojax_nas.evolution import events, history, individual  # pylint: disable=g-import-not-at-top
  lines = [json.dumps(e) for e in _SOUND]
  if _DAMAGE[damage] is not None:
    bad = _DAMAGE[damage]
    lines.insert(6, bad if isinstance(bad, str) else json.dumps(bad))
  path = tmp_path / "events.jsonl"
  path.write_text("".join(l + "\n" for l in lines))
  expected = history.first_damage(path, _strategy(costs))
  assert (expected is None) == (
      damage == "none" or damage == "trained without costs" and not costs)
  assert expected is None or expected[0] == 7
  found = events.first_damage(path, individual.checker(costs))
  if damage == "accuracy no number":  # JAX words it its own way
    assert found[0] == expected[0] and "'high'" in found[1]
  else:
    assert found == expected


def test_tensorboard_scalars_are_readable(finished_run):
  from tensorboard.backend.event_processing import event_accumulator
  acc = event_accumulator.EventAccumulator(str(finished_run[0] / "tensorboard"))
  acc.Reload()
  tags = set(acc.Tags()["scalars"])
  assert {"val_accuracy/best", "val_accuracy/mean_alive", "population/alive",
          "throughput/individuals_per_hour"} <= tags
  best = acc.Scalars("val_accuracy/best")
  results = json.loads((finished_run[0] / "results.json").read_text())
  assert len(best) == results["individuals"]
  assert best[-1].value == pytest.approx(results["best"]["val_accuracy"])
  assert [s.step for s in best] == list(range(1, len(best) + 1))


def test_report_command_line(finished_run, tmp_path, capsys):
  from evojax_nas.commands import report as report_cmd
  assert report_cmd.main(["--workdir", str(finished_run[0]), "--workdir",
                          str(finished_run[2]), "--out", str(tmp_path)]) == 0
  assert Path(capsys.readouterr().out.strip()) == tmp_path / "index.html"
  assert report_cmd.main(["--workdir", str(tmp_path / "nothing")]) == 2
  assert "no events.jsonl" in capsys.readouterr().err


def _browser():
  chromium = shutil.which("chromium") or shutil.which("chromium-browser")
  driver = shutil.which("chromedriver")
  if not (chromium and driver):
    if os.environ.get("CI"):
      pytest.fail("CI needs Debian's chromium and chromium-driver "
                  "(.ci/run installs them)")
    pytest.skip("chromium / chromedriver not installed")
  from selenium import webdriver
  from selenium.webdriver.chrome.service import Service
  options = webdriver.ChromeOptions()
  options.binary_location = chromium
  for arg in ("--headless=new", "--no-sandbox", "--disable-gpu",
              "--disable-dev-shm-usage"):
    options.add_argument(arg)
  return webdriver.Chrome(service=Service(driver), options=options)


def test_report_renders_in_a_headless_browser(finished_run, tmp_path):
  index = report.build(finished_run, tmp_path / "out")
  results = json.loads((finished_run[0] / "results.json").read_text())
  browser = _browser()
  try:
    browser.get(index.as_uri())
    assert browser.execute_script("return document.readyState") == "complete"
    sizes = browser.execute_script(
        "return Array.from(document.images).map(i => [i.complete, "
        "i.naturalWidth, i.naturalHeight]);")
    assert len(sizes) == 4
    assert all(done and w > 0 and h > 0 for done, w, h in sizes)
    text = lambda key: browser.find_element("id", key).text
    assert float(text("best-test")) == pytest.approx(
        results["best"]["test_accuracy"], abs=1e-4)
    assert int(text("individuals")) == results["individuals"]
  finally:
    browser.quit()


@pytest.mark.slow
def test_colab_quickstart_executes(cifar10_dir, tmp_path, monkeypatch):
  import nbformat
  from nbclient import NotebookClient
  monkeypatch.setenv("EVOJAX_NAS_QUICKSTART_TINY", "1")
  monkeypatch.setenv("EVOJAX_NAS_QUICKSTART_WORKDIR", str(tmp_path / "run"))
  monkeypatch.setenv("EVOJAX_NAS_DATA_DIR", str(cifar10_dir))
  monkeypatch.setenv("EVOJAX_NAS_CACHE", str(tmp_path / "cache"))
  monkeypatch.setenv("PYTHONPATH", str(ROOT))
  nb = nbformat.read(ROOT / "colab" / "quickstart.ipynb", as_version=4)
  NotebookClient(nb, timeout=600, kernel_name="python3",
                 resources={"metadata": {"path": str(tmp_path)}}).execute()
  outputs = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code"
                    for o in c.get("outputs", []))
  assert "best individual" in outputs and "accuracy on these 8" in outputs
  images = [o for c in nb.cells for o in c.get("outputs", [])
            if "image/png" in o.get("data", {})]
  assert len(images) >= 3  # progress, architecture, the classified images


def test_progress_marks_section_5s_interventions_on_either_axis(tmp_path):
  """Figure 4: the span of children born under a raised mutation rate and
  each population-wide weight reset, against time or training steps."""
  trained = [{"event": "trained", "id": i, "t": 2.0 * i + 1, "steps": 100,
              "val_accuracy": 0.1 + 0.01 * i} for i in range(12)]
  events = trained[:8] + [{"event": "population_reset", "at": 8, "t": 16.5}]
  events += trained[8:]
  run = report.Run(tmp_path, {"escape.mutation_rate_schedule": "3-6:5"},
                   events, None)
  for x, span, reset in (("t", (7.0, 11.0), 16.5),
                         ("steps", (400.0, 600.0), 800.0)):
    fig, ax = report.figure()
    report._mark_escapes(ax, run, report.progress_axis(run, x), x)  # pylint: disable=protected-access
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["5 mutations per child", "weights reset"]
    xs = ax.patches[0].get_patch_transform().transform(
        ax.patches[0].get_path().vertices)[:, 0]
    assert (xs.min(), xs.max()) == span
    assert ax.lines[0].get_xdata()[0] == reset
  assert report.plot_progress(run, tmp_path / "p.png", x="steps").is_file()
