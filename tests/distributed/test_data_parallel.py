"""Data parallelism on 2 CPU processes (gloo): gradients, sharded evaluation, training and resume.

One spawn of 2 processes (tests/distributed/workers.py) computes everything; the tests read it.
"""

import math
import socket

import numpy as np
import pytest
import torch

from . import workers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def ranks(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ranks")
    torch.multiprocessing.spawn(workers.run_rank, args=(2, _free_port(), str(tmp)), nprocs=2, join=True)
    return [torch.load(tmp / f"rank{r}.pt", weights_only=False) for r in range(2)]


@pytest.mark.parametrize("loss", [name for name, *_ in workers.LOSSES])
def test_half_batch_gradients_summed_over_two_ranks_equal_the_full_batch_gradient(ranks, loss):
    full_loss, full_grads = ranks[0]["single"][loss]
    assert sum(g is not None for g in full_grads) >= 4
    for r in range(2):
        value, grads = ranks[r]["sharded"][loss]
        assert value == pytest.approx(full_loss, rel=1e-5)  # the global batch's loss on every rank
        assert [g is None for g in grads] == [g is None for g in full_grads]
        for g, ref in zip(grads, full_grads):
            if ref is not None:
                torch.testing.assert_close(g, ref, rtol=1e-4, atol=1e-5)
    # the halves alone are not the whole: the test would see a missing reduction
    assert not math.isclose(ranks[0]["sharded"][loss][0] / 2, full_loss, rel_tol=1e-3)


def _same(a, b):
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    else:
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_sharded_evaluation_equals_one_process_exactly(ranks):
    one = ranks[0]["single"]["eval"]
    assert not np.isnan(one["iw"]["log_px_iw"]).any() and not np.isnan(one["ais"]["log_px_ais"]).any()
    assert not np.isnan(one["iw"]["khat"]).all()
    for r in range(2):  # IW (every column, nested K, active units) and AIS, bit for bit, on both ranks
        _same(ranks[r]["sharded"]["eval"], one)


def test_two_processes_train_identical_parameters_and_resume_to_the_same_numbers(ranks):
    a, b = ranks[0]["train"], ranks[1]["train"]
    for key in a["full"]:
        assert torch.equal(a["full"][key], b["full"][key])  # the same step on both ranks
        assert torch.equal(a["full"][key], a["resumed"][key])  # resume continues draw for draw
    assert [m["valid_elbo"] for m in a["full_metrics"]] == [m["valid_elbo"] for m in a["resumed_metrics"]]
    assert [m["processes"] for m in a["full_metrics"]] == [2, 2]
    assert a["full_metrics"][-1]["valid_elbo"] > a["full_metrics"][0]["valid_elbo"]
