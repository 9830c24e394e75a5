"""The processes a run starts (runs/processes.py): children watched and
stopped one way (a stop of this process goes on to them as the same
signal), their output relayed, and the Ray helpers of launch.py and
sweep.py (against a stand-in for Ray, which this machine may not have)."""

import os
import signal
import subprocess
import sys
import time
import types

import pytest

from evojax_nas.config import ConfigError, default_config
from evojax_nas.runs import launch, processes, sweep

CHILD = """
import pathlib, signal, sys, time
out = pathlib.Path(sys.argv[1])
def stop(signum, frame):
  out.write_text(signal.Signals(signum).name)
  sys.exit(0)
signal.signal(signal.SIGINT, stop)
signal.signal(signal.SIGTERM, stop)
print("line one", flush=True)
print("line two", flush=True)
out.with_suffix(".ready").write_text("")
time.sleep(float(sys.argv[2]))
sys.exit(int(sys.argv[3]))
"""


@pytest.fixture
def python_children(monkeypatch):
  """`processes.start(args)` runs CHILD with `args` instead of
  `python -m evojax_nas.main ...`."""
  monkeypatch.setattr(processes, "command",
                      lambda *args: [sys.executable, "-c", CHILD, *args])


def _ready(path, timeout_s=60.0):
  deadline = time.time() + timeout_s
  while not path.with_suffix(".ready").exists():
    assert time.time() < deadline
    time.sleep(0.05)


@pytest.mark.parametrize("signum, message", [(signal.SIGINT, ""),
                                             (signal.SIGTERM, "SIGTERM")])
def test_a_stop_goes_on_to_every_child_as_the_same_signal(
    signum, message, python_children, tmp_path):
  before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
  outs = [tmp_path / f"c{i}.txt" for i in range(2)]
  with pytest.raises(KeyboardInterrupt) as stopped:
    with processes.watching(grace_s=30) as children:
      for i, out in enumerate(outs):
        children.add(f"c{i}", processes.start(
            [str(out), "60", "0"], log_to=tmp_path / f"c{i}.log"))
      for out in outs:
        _ready(out)
      os.kill(os.getpid(), signum)  # recorded, not raised here
      children.wait()
  assert str(stopped.value) == message
  assert [o.read_text() for o in outs] == [signum.name] * 2
  assert {s: signal.getsignal(s) for s in before} == before
  assert (tmp_path / "c0.log").read_text() == "line one\nline two\n"


def test_a_child_is_relayed_and_its_exit_status_returned(python_children,
                                                         tmp_path, capsys):
  with processes.watching() as children:
    children.add("c", processes.start([str(tmp_path / "c.txt"), "0", "3"]))
    assert children.wait() == 3
  assert capsys.readouterr().err == "line one\nline two\n"


def test_an_error_in_the_block_kills_the_children(python_children, tmp_path):
  with pytest.raises(RuntimeError, match="launch failed"):
    with processes.watching() as children:
      proc = children.add("c", processes.start(
          [str(tmp_path / "c.txt"), "60", "0"], log_to=tmp_path / "c.log"))
      raise RuntimeError("launch failed")
  assert proc.returncode == -signal.SIGKILL


def test_a_child_has_a_session_of_its_own(python_children, tmp_path):
  """A Ctrl-C at the terminal (to the foreground process group) reaches
  the watcher only, which passes it on once."""
  with processes.watching() as children:
    proc = children.add("c", processes.start(
        [str(tmp_path / "c.txt"), "60", "0"], log_to=tmp_path / "c.log"))
    _ready(tmp_path / "c.txt")
    assert os.getsid(proc.pid) == proc.pid != os.getsid(0)
    proc.terminate()
    assert children.wait() == 0
  assert (tmp_path / "c.txt").read_text() == "SIGTERM"


_PARENT = """
import sys, time
from evojax_nas.runs import processes
processes.command = lambda *args: [sys.executable, "-c", sys.argv[1], *args]
processes.start([sys.argv[2]], log_to=None)
time.sleep(120)
"""
_FOLLOWER = """
import pathlib, sys, time
from evojax_nas import stop
out = pathlib.Path(sys.argv[1])
try:
  with stop.handled():
    out.with_suffix(".ready").write_text("")
    time.sleep(120)
except KeyboardInterrupt as stopped:
  out.write_text(str(stopped))
"""


def test_a_child_stops_when_its_parent_is_killed(tmp_path):
  """Even by SIGKILL: the child's command gets SIGTERM and stops as after
  Ctrl-C (stop.follow_parent), leaving no orphan on the folder."""
  out = tmp_path / "child.txt"
  parent = subprocess.Popen([sys.executable, "-c", _PARENT, _FOLLOWER,
                             str(out)], stdout=subprocess.DEVNULL)
  _ready(out)
  parent.kill()
  parent.wait()
  deadline = time.time() + 60
  while not out.exists():
    assert time.time() < deadline, "the child outlived its parent"
    time.sleep(0.1)
  assert out.read_text() == "SIGTERM"


class FakeRay(types.ModuleType):
  """Just enough of Ray: tasks run when they are waited for."""

  def __init__(self):
    super().__init__("ray")
    self.inits, self.options, self.cancelled = [], [], []

  def is_initialized(self):
    return bool(self.inits)

  def init(self, **kwargs):
    self.inits.append(kwargs)

  def remote(self, **options):
    self.options.append(options)
    ray = self

    class Task:
      def __init__(self, fn):
        self.fn = fn

      def options(self, **more):
        ray.options.append(more)
        return self

      def remote(self, *args):
        return (self.fn, args)
    return Task

  def wait(self, refs, num_returns, timeout=None):
    if timeout is not None:  # a grace period: they do not end in it
      return [], refs
    assert num_returns == 1
    return refs[:1], refs[1:]

  def cancel(self, ref, force=False):
    self.cancelled.append((ref[1], force))

  def get(self, ref):
    fn, args = ref
    return fn(*args)


@pytest.fixture
def fake_ray(monkeypatch):
  ray = FakeRay()
  monkeypatch.setitem(sys.modules, "ray", ray)
  return ray


def test_ray_workers_start_again_after_a_recycle(fake_ray, tmp_path,
                                                 monkeypatch):
  calls = []

  def worker(workdir, name):
    calls.append(name)
    return None if calls.count(name) == 1 else 5  # recycles once
  monkeypatch.setattr(launch, "_ray_worker", worker)
  c = default_config()
  c.num_workers, c.workers.ray_placement = 2, "pack"
  launch.run_ray(c, tmp_path)
  assert sorted(calls) == ["ray0", "ray0", "ray1", "ray1"]
  assert fake_ray.inits == [{"address": None, "include_dashboard": False,
                             "log_to_driver": True}]
  assert fake_ray.options[0] == {
      "num_cpus": c.workers.ray_num_cpus, "num_gpus": c.workers.ray_num_gpus,
      "max_retries": c.workers.ray_max_retries, "max_calls": 1}


def test_a_ray_sweep_runs_each_point_as_a_task(fake_ray, tmp_path,
                                               monkeypatch):
  monkeypatch.setattr(sweep, "run_point", lambda w: 2 if w.endswith("b") else 0)
  todo = [tmp_path / "a", tmp_path / "b"]
  codes = sweep._run_ray(todo, default_config().workers)  # pylint: disable=protected-access
  assert codes == {tmp_path / "a": 0, tmp_path / "b": 2}
  assert "max_calls" not in fake_ray.options[0]


def test_a_stop_cancels_the_ray_tasks_still_running(fake_ray):
  """A KeyboardInterrupt in each, a grace period, then force."""
  task = processes.ray_task(fake_ray, default_config().workers, lambda i: i)
  running = {task.remote(i): i for i in range(3)}
  with pytest.raises(KeyboardInterrupt):
    for _, result in processes.ray_results(fake_ray, running, grace_s=1.0):
      assert result == 0
      raise KeyboardInterrupt
  assert fake_ray.cancelled == [((1,), False), ((2,), False), ((1,), True),
                                ((2,), True)]
  done = {task.remote(i): i for i in range(2)}
  assert [r for _, r in processes.ray_results(fake_ray, done)] == [0, 1]
  assert len(fake_ray.cancelled) == 4  # nothing cancelled after an end


def test_ray_missing_is_one_line(monkeypatch, tmp_path):
  monkeypatch.setitem(sys.modules, "ray", None)  # import ray fails
  c = default_config()
  with pytest.raises(ConfigError, match=r"runner='ray' needs Ray: pip"):
    launch.run_ray(c, tmp_path)
  with pytest.raises(ConfigError, match=r"--runner ray needs Ray: pip"):
    sweep._run_ray([], c.workers)  # pylint: disable=protected-access
