"""What each of the 2 gloo processes of tests/distributed/test_data_parallel.py computes.

:func:`run_rank` is started by ``torch.multiprocessing.spawn``; it writes ``rank{r}.pt`` with
what the tests compare. One start serves every check (a process start costs seconds).
"""

from __future__ import annotations

import pyro
import torch

from pyro_vae.evaluation import evaluate_log_likelihood
from pyro_vae.evaluation.ais import evaluate_ais
from pyro_vae.infer.losses import make_loss
from pyro_vae.registry import build_model

X_DIM, N_GRAD, N_EVAL = 16, 10, 23
#: (loss, options, model): the estimators whose summed half-batch gradients must equal the full batch's
LOSSES = [("elbo", {}, "vae"), ("iwae", {"num_particles": 3}, "vae"), ("dreg", {"num_particles": 3}, "vae"),
          ("piwae", {"num_particles": 3, "num_outer": 2}, "vae"), ("enum", {}, "ss_vae")]


class SharedNoise:
    """Every ``Normal.rsample`` draws from noise fixed per datapoint: the i-th call of a run with
    batch rows ``rows`` gets rows ``rows`` of a draw made for all ``N_GRAD`` rows (batch dim -2),
    so the full batch in one process and its halves on two ranks see the same draws."""

    def __init__(self, rows):
        self.rows, self.calls = rows, 0

    def __enter__(self):
        self.original = torch.distributions.Normal.rsample
        noise = self

        def rsample(dist, sample_shape=torch.Size()):
            shape = dist._extended_shape(sample_shape)
            noise.calls += 1
            full = list(shape)
            full[-2] = N_GRAD
            eps = torch.randn(full, generator=torch.Generator().manual_seed(1000 + noise.calls))
            return dist.loc + eps.index_select(len(full) - 2, noise.rows) * dist.scale

        torch.distributions.Normal.rsample = rsample
        return self

    def __exit__(self, *exc):
        torch.distributions.Normal.rsample = self.original


def _model(name):
    pyro.clear_param_store()  # pyro.module's names must point at this model's parameters
    torch.manual_seed(0)
    info = {"x_dim": X_DIM, "kind": "binary", "num_classes": 3}
    return build_model(name, info, z_dim=2, hidden=[8])  # (ss_vae called without y: the label summed out)


def _gradients(loss_name, options, model_name, rows):
    from pyro_vae.distributed import reduce_step

    model = _model(model_name)
    x = torch.bernoulli(torch.full((N_GRAD, X_DIM), 0.3), generator=torch.Generator().manual_seed(1))
    loss = make_loss(loss_name, **options)
    with SharedNoise(rows):
        value = loss.loss_and_grads(model.model, model.guide, x[rows])
    params = list(model.parameters())
    value = reduce_step(params, value)  # the identity in one process
    return value, [None if p.grad is None else p.grad.clone() for p in params]


def _evaluations():
    model = _model("vae")
    x = torch.bernoulli(torch.full((N_EVAL, X_DIM), 0.3), generator=torch.Generator().manual_seed(2))
    iw = evaluate_log_likelihood(model.model, model.guide, x, k=24, max_elements=120, seed=3, progress=False,
                                 nested_k=[2])
    ais = evaluate_ais(model.model, model.guide, x, num_chains=2, num_steps=4, leapfrog_steps=2, tune_chains=1,
                       max_elements=12, seed=3, progress=False)
    return {"iw": iw.values, "iw_nested": iw.nested, "iw_units": iw.active_units,
            "ais": ais.values, "ais_log_w": ais.log_w}


def _train(tmp):
    """A 2-epoch run, and a 1-epoch run resumed to 2 epochs; the captured step on (it must compose)."""
    from pyro_vae.training import TrainConfig, train

    quick = dict(dataset="digits", model_options={"z_dim": 2, "hidden": [16]}, batch_size=101, progress=False,
                 capture="on", seed=5)
    full = train(TrainConfig(epochs=2, **quick), f"{tmp}/full", pictures=False)
    train(TrainConfig(epochs=1, **quick), f"{tmp}/split", pictures=False)
    resumed = train(TrainConfig(epochs=2, **quick), f"{tmp}/split", resume=True, pictures=False)
    return {"full": {k: v.clone() for k, v in full.model.state_dict().items()},
            "resumed": {k: v.clone() for k, v in resumed.model.state_dict().items()},
            "full_metrics": full.metrics, "resumed_metrics": resumed.metrics}


def run_rank(rank: int, world: int, port: int, tmp: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)  # one process and two draw in the same float order only at the same thread count
    out = {"single": {}, "sharded": {}}
    everything = torch.arange(N_GRAD)
    for name, options, model_name in LOSSES:  # before the group exists: one process, the full batch
        out["single"][name] = _gradients(name, options, model_name, everything)
    out["single"]["eval"] = _evaluations()
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world)
    try:
        mine = torch.tensor_split(everything, world)[rank]
        for name, options, model_name in LOSSES:
            out["sharded"][name] = _gradients(name, options, model_name, mine)
        out["sharded"]["eval"] = _evaluations()
        out["train"] = _train(tmp)
    finally:
        dist.destroy_process_group()
    torch.save(out, f"{tmp}/rank{rank}.pt")
