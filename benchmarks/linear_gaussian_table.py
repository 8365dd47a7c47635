"""The IW estimator against a closed form: exact log p(x), ELBO and IW_K of the linear-Gaussian model.

Probabilistic PCA, x in R^10, z in R^3, with an amortized linear Gaussian guide fitted to the
model by the IWAE objective for 60 steps (an imperfect q: partly fitted, and its diagonal
covariance cannot match the true posterior's correlations anyway). For n test points, the table gives
mean and standard error over datapoints of each estimate minus the exact log p(x).

    python benchmarks/linear_gaussian_table.py

Writes benchmarks/results/linear_gaussian.json (with the Markdown table).
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np
import pyro
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, markdown_table, write_results  # noqa: E402

KS = (1, 10, 100, 1000, 5000)


def main(n: int = 500, fit_steps: int = 60, seed: int = 0):
    from pyro_vae.evaluation import evaluate_log_likelihood
    from pyro_vae.infer.estimators import IWAE
    from pyro_vae.registry import build_model

    torch.set_default_dtype(torch.float64)
    pyro.set_rng_seed(seed)
    m = build_model("linear_gaussian", {"x_dim": 10, "kind": "real"}, z_dim=3, seed=seed)
    with torch.no_grad():
        x_fit, x = m.marginal().sample((2000,)), m.marginal().sample((n,))
        exact = m.exact_log_px(x).numpy()
    # fit only the guide (the model stays the one whose log p(x) we know)
    guide_params = list(m.encoder.parameters()) + [m.encoder_log_scale]
    opt = torch.optim.Adam(guide_params, lr=1e-2)
    loss = IWAE(num_particles=5)
    for _ in range(fit_steps):
        opt.zero_grad()
        m.zero_grad()
        loss.loss_and_grads(m.model, m.guide, x_fit)
        opt.step()
    results = {k: evaluate_log_likelihood(m.model, m.guide, x, k=k, seed=k, progress=False) for k in KS}

    def row(name, values, **extra):
        gap = values - exact
        return {"estimate": name, "value": float(values.mean()), "se": float(values.std(ddof=1) / math.sqrt(n)),
                "gap": float(gap.mean()), "gap_se": float(gap.std(ddof=1) / math.sqrt(n)), **extra}

    rows = [row("exact log p(x)", exact), row(f"ELBO (mean of {KS[-1]} draws)", results[KS[-1]].elbo)]
    for k, est in results.items():
        rows.append(row(f"IW K={k}", est.log_px_iw, ess=float(np.mean(est.ess)),
                        **{"khat_share_above_0.7": est.summary()["khat_share_above_0.7"]}))
    table = markdown_table(rows, [("estimate", "estimate"), ("value", "mean (nats)"), ("se", "se"),
                                  ("gap", "mean minus exact"), ("gap_se", "se of the gap"), ("ess", "mean ESS"),
                                  ("khat_share_above_0.7", "share k-hat > 0.7")])
    budget = (f"linear-Gaussian x in R^10, z in R^3, {n} test points; guide fitted by IWAE(K=5) for {fit_steps} "
              f"Adam steps on 2000 draws; float64")
    path = write_results("linear_gaussian", {"benchmark": "linear_gaussian", "budget": budget, "machine": machine(),
                                             "rows": rows, "table": table})
    print(budget)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
