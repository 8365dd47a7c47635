"""Sphinx configuration of the pyro-vae documentation (``make docs``: warnings are errors)."""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import pyro_vae  # noqa: E402

project = "pyro-vae"
author = "the pyro-vae developers"
release = version = pyro_vae.__version__

extensions = ["myst_parser", "sphinx.ext.autodoc", "sphinx.ext.napoleon", "sphinx.ext.mathjax"]
source_suffix = {".md": "markdown", ".rst": "restructuredtext"}
exclude_patterns = ["_build"]
myst_enable_extensions = ["dollarmath", "colon_fence"]
myst_heading_anchors = 3
autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options = {"members": True, "show-inheritance": True}
autodoc_mock_imports = ["tensorboard", "mlflow"]
nitpicky = False
html_theme = "furo"
html_title = f"pyro-vae {release}"
