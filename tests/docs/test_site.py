"""`make docs`: the documentation site builds with warnings as errors, and has its pages."""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_the_site_builds_without_a_warning_and_has_every_page(tmp_path):
    pytest.importorskip("sphinx")
    pytest.importorskip("myst_parser")
    out = tmp_path / "html"
    proc = subprocess.run([sys.executable, "-m", "sphinx", "-E", "-W", "--keep-going", "-q", "-b", "html",
                           str(ROOT / "docs"), str(out), "-d", str(tmp_path / "doctrees")],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    assert pages <= {p.stem for p in out.glob("*.html")}
    api = (out / "api.html").read_text()
    for name in ("ImportanceWeightedELBO", "evaluate_log_likelihood", "DeclarativeModel", "register_file_format"):
        assert name in api, name
    guide = re.sub(r"<[^>]+>", "", (out / "adding-a-model.html").read_text())
    assert "class VAE" in guide  # the zoo file, included from models/vae.py
    shutil.rmtree(tmp_path / "doctrees", ignore_errors=True)


def test_the_api_page_documents_every_library_module():
    """Every module of the library but the CLI's (``pyro-vae --help`` is its reference) and
    packages whose ``__init__`` only gathers names is on docs/api.md."""
    documented = set(re.findall(r"automodule:: (\S+)", (ROOT / "docs" / "api.md").read_text()))
    modules = set()
    for path in (ROOT / "pyro_vae").rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        if "cli" in parts or parts[-1] == "__main__":
            continue
        if parts[-1] == "__init__":
            if not re.search(r"^(def|class|[A-Z_]+ *[:=])", path.read_text(), flags=re.M):
                continue
            parts = parts[:-1]
        modules.add(".".join(parts))
    assert modules <= documented, sorted(modules - documented)
