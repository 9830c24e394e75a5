"""CIFAR archives fetched once into the data cache, verified, with Pooch.

The canonical python archives from the data sets' home page (a config
field, `data.url`, points at a mirror instead) are checked against the MD5
published there (the checksums torchvision and tfds pin too). Pooch writes
the download to a temporary file beside its destination and moves it into
place only once the checksum matches, so an interrupted or corrupt
download leaves nothing a later start could take for the archive; a file
already in place is checked again before use, and a bad one fetched anew.
An interrupted download restarts from the beginning (Pooch has no
ranged resume).
"""

from __future__ import annotations

import logging
import sys
import urllib.parse
from pathlib import Path

log = logging.getLogger("evojax_nas")

HOME = "https://www.cs.toronto.edu/~kriz/"
# Archive name -> its published MD5 (www.cs.toronto.edu/~kriz/cifar.html).
KNOWN_HASHES = {
    "cifar-10-python.tar.gz": "md5:c58f30108f718f92721af3b95e74349a",
    "cifar-100-python.tar.gz": "md5:eb9058c3a382ffc7106e4002c42a8d85",
}


class DownloadError(OSError):
  """The archive could not be fetched or did not match its checksum."""


def folder(cache_dir: Path) -> Path:
  """Where downloaded archives live in the data cache."""
  return cache_dir / "downloads"


def default_url(archive: str) -> str:
  return HOME + archive


def _remove_empty(*folders: Path):
  for f in folders:
    try:
      f.rmdir()  # only if empty
    except OSError:
      pass


def fetch(archive: str, cache_dir: Path, url: str | None = None) -> Path:
  """The verified `archive` in the cache's downloads folder: the copy
  already there if its checksum matches, else downloaded (from `url`,
  default the home page). DownloadError if the network fails or the
  checksum does not match; then no file or folder is left behind."""
  import pooch  # pylint: disable=g-import-not-at-top
  url = url or default_url(archive)
  target = folder(cache_dir)
  fresh = [d for d in (target, cache_dir) if not d.exists()]
  pooch.get_logger().setLevel(logging.WARNING)  # our own line says it
  if not (target / archive).is_file():
    log.info("downloading %s into %s (once)", url, target)
  try:
    return Path(pooch.retrieve(
        url, known_hash=KNOWN_HASHES[archive], fname=archive, path=target,
        downloader=pooch.HTTPDownloader(progressbar=sys.stderr.isatty(),
                                        timeout=60)))
  except ValueError:  # Pooch: the hash does not match
    _remove_empty(*fresh)
    raise DownloadError(f"the file at {url} is not the published {archive} "
                        f"(its checksum differs from {KNOWN_HASHES[archive]})"
                        ) from None
  except Exception as err:  # pylint: disable=broad-except
    _remove_empty(*fresh)
    raise DownloadError(f"cannot download {url} ({_why(err, url)})") from None


def _why(err: Exception, url: str) -> str:
  """A network failure in a few words."""
  import requests  # pylint: disable=g-import-not-at-top
  host = urllib.parse.urlsplit(url).hostname
  if isinstance(err, requests.exceptions.HTTPError):
    return f"HTTP {err.response.status_code}" if err.response is not None \
        else "HTTP error"
  if isinstance(err, requests.exceptions.Timeout):
    return f"{host} did not answer in time"
  if isinstance(err, (requests.exceptions.ChunkedEncodingError,
                      requests.exceptions.ContentDecodingError)):
    return "the connection broke off mid-way"
  if isinstance(err, requests.exceptions.ConnectionError):
    return f"no connection to {host}: offline?"
  first = (str(err).strip().splitlines() or [""])[0][:160]
  return f"{type(err).__name__}: {first}"
