"""The evaluator's memory bound holds for any K, and bad arguments get clear errors."""

import tracemalloc

import numpy as np
import pytest
import torch

from pyro_vae.errors import DataError, InferenceError
from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.evaluation.importance import PSIS_BUFFER_BLOCKS, psis_rows
from pyro_vae.registry import build_model


def _tiny():
    torch.manual_seed(0)
    m = build_model("vae", {"x_dim": 6, "kind": "binary"}, z_dim=2, hidden=[4])
    return m, torch.bernoulli(torch.full((6, 6), 0.5))


def test_psis_buffer_is_bounded_by_max_elements_whatever_k():
    for k in (10, 1000, 5000, 200_000, 10**7):
        for max_elements in (1, 4096, 65536):
            block = max(1, max_elements // k)
            rows = psis_rows(k, block, max_elements)
            assert rows >= block
            assert rows * k <= max(PSIS_BUFFER_BLOCKS * max_elements, block * k)


def test_a_large_k_stays_within_the_numpy_memory_bound():
    """K = 100000 on 6 points: the PSIS buffer was [257, K] float64 (206 MB); now ~8 MB."""
    import arviz  # noqa: F401  (its first import allocates ~100 MB of Python objects: not ours)

    m, x = _tiny()
    tracemalloc.start()
    try:
        est = evaluate_log_likelihood(m.model, m.guide, x, k=100_000, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert est.n == 6 and np.isfinite(est.khat).all()  # every row got its k-hat
    # the buffer (10 rows of 100k float64: 8 MB) and ArviZ's working copies of it (~2x)
    assert peak < 40e6, f"numpy peak {peak / 1e6:.0f} MB"


def test_empty_data_and_bad_arguments_are_refused_in_one_line():
    m, x = _tiny()
    with pytest.raises(DataError, match="empty"):
        evaluate_log_likelihood(m.model, m.guide, x[:0], k=10, progress=False)
    with pytest.raises(InferenceError, match="k .* must be an integer >= 1, got 0"):
        evaluate_log_likelihood(m.model, m.guide, x, k=0, progress=False)
    with pytest.raises(InferenceError, match="max_elements must be an integer >= 1, got -1"):
        evaluate_log_likelihood(m.model, m.guide, x, k=10, max_elements=-1, progress=False)
    with pytest.raises(DataError, match="same length"):
        evaluate_log_likelihood(m.model, m.guide, (x, x[:2]), k=10, progress=False)
