"""The zoo in models/ ships inside the installed package as pyro_vae.zoo."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_wheel_ships_the_zoo_and_the_installed_package_finds_it(tmp_path):
    # build from a clean copy: an in-tree build/ left by an earlier build would hide a missing package
    source = tmp_path / "source"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", ".venv", "build", "runs", "*.egg-info",
                                                                 "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "dist"), str(source)], check=True, capture_output=True)
    wheel = next((tmp_path / "dist").glob("pyro_vae-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    zoo_files = {Path(n).name for n in names if n.startswith("pyro_vae/zoo/")}
    in_repo = {p.name for p in (REPO / "models").glob("*.py")}
    assert in_repo <= zoo_files, in_repo - zoo_files
    assert "pyro_vae/cli/__init__.py" in names and "pyro_vae/options.py" in names
    subpackages = {str(p.parent.relative_to(REPO)) for p in (REPO / "pyro_vae").rglob("__init__.py")}
    missing = {d for d in subpackages if f"{d}/__init__.py" not in names}
    assert not missing, f"add {sorted(missing)} to [tool.setuptools] packages in pyproject.toml"
    assert not any(n.startswith("models/") for n in names)  # no top-level 'models' package to clash

    target = tmp_path / "site"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target),
                    str(wheel)], check=True, capture_output=True)
    code = ("import pyro_vae, pyro_vae.registry as r; "
            "print(pyro_vae.__file__); print(' '.join(e.name for e in r.model_entries()))")
    out = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, check=True, capture_output=True,
                         text=True, env={"PYTHONPATH": str(target), "PATH": "/usr/bin:/bin"}).stdout.splitlines()
    assert out[0].startswith(str(target))  # the installed copy, not the checkout
    assert {"vae", "vae_gaussian", "linear_gaussian"} <= set(out[1].split())
