import os
from pathlib import Path

import pyro
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("PYRO_VAE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(autouse=True)
def _fresh_pyro_state():
    pyro.clear_param_store()
    pyro.set_rng_seed(0)
    pyro.enable_validation(True)
    yield
    pyro.clear_param_store()


@pytest.fixture
def shared_data_dir():
    """../shared/data beside the checkout (CI has it); skip with the reason where it is absent."""
    if not (SHARED_DATA / "binarized_mnist.npz").exists():
        pytest.skip(f"static binarized MNIST not found at {SHARED_DATA} (set PYRO_VAE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


@pytest.fixture(scope="module")
def cli():
    """The fork server running ``pyro-vae`` commands in processes of their own (tests/cli_runner.py)."""
    from cli_runner import CliRunner

    runner = CliRunner()
    yield runner
    runner.close()
