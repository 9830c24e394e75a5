"""The documentation: the MkDocs site in docs/ builds with no warning, and
every relative link of README.md and docs/*.md points to a file that exists
(and, for a link into a page, to one of its headings)."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)
CODE = re.compile(r"`[^`\n]*`")


def links(text: str) -> list[str]:
  """The link targets of a Markdown text, code blocks and spans left out."""
  return LINK.findall(CODE.sub("", FENCE.sub("", text)))


def slug(heading: str) -> str:
  """A heading's anchor, as GitHub and MkDocs' toc make it for plain
  headings."""
  text = CODE.sub(lambda m: m.group(0).strip("`"), heading)
  text = re.sub(r"[^\w\- ]", "", text.strip().lower())
  return re.sub(r" ", "-", text)


def anchors(page: Path) -> set[str]:
  text = FENCE.sub("", page.read_text(encoding="utf-8"))
  return {slug(h) for h in re.findall(r"^#+ (.+)$", text, re.M)}


def test_relative_links_point_to_existing_files():
  broken = []
  for page in PAGES:
    for target in links(page.read_text(encoding="utf-8")):
      if re.match(r"^[a-z][a-z0-9+.-]*:", target) or target.startswith("#"):
        continue  # a URL (http:, mailto:) or an anchor of this page
      path, _, anchor = target.partition("#")
      path = path.split("?")[0]
      resolved = (page.parent / path).resolve()
      where = f"{page.relative_to(ROOT)}: {target}"
      if not resolved.exists():
        broken.append(f"{where} (no such file)")
      elif anchor and resolved.suffix == ".md" and anchor not in anchors(
          resolved):
        broken.append(f"{where} (no heading #{anchor})")
  assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_page_is_in_the_nav():
  nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
  missing = [p.name for p in PAGES[1:] if f" {p.name}" not in nav]
  assert not missing, f"docs pages not in mkdocs.yml's nav: {missing}"


def test_mkdocs_build_strict(tmp_path):
  pytest.importorskip(
      "mkdocs", reason="mkdocs is not installed (pip install -e '.[dev]' "
      "installs it): the site build is not checked")
  out = subprocess.run(
      [sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file",
       str(ROOT / "mkdocs.yml"), "--site-dir", str(tmp_path / "site")],
      cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert out.returncode == 0, out.stdout + out.stderr
  for page in PAGES[1:]:
    html = (tmp_path / "site" / ("index.html" if page.stem == "index" else
                                 f"{page.stem}/index.html"))
    assert html.exists(), f"{page.name} was not built"
