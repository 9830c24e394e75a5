"""Data that arrives by itself: the CIFAR archive downloaded once into the
data cache and verified, served here by a loopback HTTP server (good,
corrupt, cut off mid-way, none at all)."""

import functools
import hashlib
import http.server
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from conftest import tar_folder, write_cifar10_python
from evojax_nas.train import data, download

ARCHIVE = "cifar-10-python.tar.gz"
ROOT = Path(__file__).resolve().parents[1]


class _Handler(http.server.BaseHTTPRequestHandler):
  """/good/A: the archive; /corrupt/A: one byte changed; /cut/A: half of
  it under the whole one's Content-Length, then the connection closes."""
  payload = b""
  requests = []

  def do_GET(self):  # pylint: disable=invalid-name
    type(self).requests.append(self.path)
    kind = self.path.split("/")[1]
    body = self.payload
    if kind == "corrupt":
      body = body[:100] + bytes([body[100] ^ 1]) + body[101:]
    if kind not in ("good", "corrupt", "cut"):
      self.send_error(404)
      return
    self.send_response(200)
    self.send_header("Content-Length", str(len(self.payload)))
    self.end_headers()
    self.wfile.write(body[:len(body) // 2] if kind == "cut" else body)
    self.wfile.flush()
    if kind == "cut":
      self.close_connection = True

  def log_message(self, *args):
    pass


@pytest.fixture(scope="module")
def server(tmp_path_factory):
  tmp = tmp_path_factory.mktemp("served")
  write_cifar10_python(tmp / "src" / "cifar-10-batches-py")
  tar_folder(tmp / "src" / "cifar-10-batches-py", tmp / ARCHIVE,
             "cifar-10-batches-py")
  payload = (tmp / ARCHIVE).read_bytes()
  handler = type("Handler", (_Handler,), {"payload": payload, "requests": []})
  httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
  threading.Thread(target=httpd.serve_forever, daemon=True).start()
  yield (f"http://127.0.0.1:{httpd.server_address[1]}", handler,
         "md5:" + hashlib.md5(payload).hexdigest())
  httpd.shutdown()


@pytest.fixture
def served(server, monkeypatch):
  """No data folder; the synthetic archive's checksum is the pinned one."""
  url, handler, md5 = server
  monkeypatch.delenv(data.DATA_DIR_ENV, raising=False)
  monkeypatch.setattr(data, "_from_tfds", lambda info: None)
  monkeypatch.setitem(download.KNOWN_HASHES, ARCHIVE, md5)
  handler.requests.clear()
  return url, handler


def files(folder: Path) -> list[str]:
  return sorted(str(p.relative_to(folder)) for p in folder.rglob("*")) \
      if folder.exists() else []


def test_a_good_archive_is_downloaded_once_and_verified(served, tmp_path):
  url, handler = served
  cache = tmp_path / "cache"
  ds = data.load("cifar10", None, str(cache), 100, url=f"{url}/good/{ARCHIVE}")
  assert len(ds.test_labels) == 200 and ds.source.endswith(ARCHIVE)
  assert (cache / "downloads" / ARCHIVE).is_file()
  # A second start finds it in the cache: no request, even with no server.
  again = data.load("cifar10", None, str(cache), 100,
                    url="http://127.0.0.1:9/nothing")
  assert (again.test_images == ds.test_images).all()
  assert handler.requests == [f"/good/{ARCHIVE}"]


def test_a_corrupt_archive_is_refused_and_nothing_is_cached(served,
                                                            tmp_path):
  url, _ = served
  cache = tmp_path / "cache"
  with pytest.raises(data.DataError, match=r"is not the published "
                     r"cifar-10-python.tar.gz \(its checksum differs"):
    data.load("cifar10", None, str(cache), 100,
              url=f"{url}/corrupt/{ARCHIVE}")
  assert files(cache) == []


def test_a_download_cut_off_leaves_nothing_then_restarts(served, tmp_path):
  url, handler = served
  cache = tmp_path / "cache"
  with pytest.raises(data.DataError, match=r"cannot download .*/cut/"):
    data.load("cifar10", None, str(cache), 100, url=f"{url}/cut/{ARCHIVE}")
  assert files(cache) == []
  # A partial file left by something else is not taken for the archive.
  (cache / "downloads").mkdir(parents=True)
  (cache / "downloads" / ARCHIVE).write_bytes(handler.payload[:1000])
  ds = data.load("cifar10", None, str(cache), 100, url=f"{url}/good/{ARCHIVE}")
  assert len(ds.test_labels) == 200
  assert (cache / "downloads" / ARCHIVE).read_bytes() == handler.payload


def test_offline_a_fresh_clone_says_so_in_one_line(tmp_path):
  """The README's quick start with no data folder and no network: exit 2,
  one line naming the URL, the cache folder and $EVOJAX_NAS_DATA_DIR;
  nothing in the data cache, and the workdir as any failed start."""
  env = {k: v for k, v in os.environ.items() if k != data.DATA_DIR_ENV}
  env[data.CACHE_DIR_ENV] = str(tmp_path / "cache")
  url = "http://127.0.0.1:9/cifar-10-python.tar.gz"
  wd = tmp_path / "wd"
  done = subprocess.run(
      [sys.executable, "-m", "evojax_nas.main",
       "--config=configs/cifar10_demo.py", f"--workdir={wd}",
       f"--config.data.url={url}"],
      capture_output=True, text=True, timeout=300, env=env, cwd=ROOT)
  assert done.returncode == 2, done.stderr[-3000:]
  last = done.stderr.strip().splitlines()[-1]
  assert last.startswith("evojax_nas: error: cifar10: no data folder given")
  for part in (f"cannot download {url}", str(tmp_path / "cache"),
               "$EVOJAX_NAS_DATA_DIR"):
    assert part in last, part
  assert files(tmp_path / "cache") == []
  events = [json.loads(l) for l in (wd / "events.jsonl").read_text()
            .splitlines()] if (wd / "events.jsonl").exists() else []
  assert not [e for e in events if e["event"] in ("born", "trained")]
  assert not (wd / "checkpoints").exists() or not any(
      (wd / "checkpoints").iterdir())
