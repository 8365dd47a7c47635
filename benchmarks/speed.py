"""Training speed: pyro-vae's SVI step against a hand-written PyTorch step, same network and loss.

For each estimator (elbo, meanfield, iwae K=5, dreg K=5), the 1-layer Burda VAE (784-200-200-50,
tanh) at batch 100 on binarized images, Adam 1e-3:

* ``ours``: the trainer's step (:func:`pyro_vae.training.trainer.svi_step`):
  ``loss.loss_and_grads(model.model, model.guide, x)`` + one multi-tensor ``torch.optim.Adam`` step,
  Pyro's validation off (the trainer validates a run's first step only);
* ``pure``: the same objective and gradient written by hand in PyTorch (reparameterized; for DReG
  the doubly reparameterized guide gradient), same optimizer.

Both run in this process, in interleaved rounds (``--rounds``), each round ``--steps`` steps per
implementation; the table reports medians of steps/s and ``speed_ratio`` = ours / pure (higher is
better; target >= 0.9).

    python benchmarks/speed.py                       # cpu
    python benchmarks/speed.py --device cuda
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import machine, markdown_table, write_results  # noqa: E402

LOG_2PI = math.log(2 * math.pi)


def _normal_log_prob(z, loc, scale):
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * LOG_2PI).sum(-1)


def pure_objective(vae, x, name, k):
    """The per-batch loss (negative objective) whose gradient each estimator follows, by hand."""
    loc, scale = vae.encoder(x)
    shape = (k,) + loc.shape if k > 1 else loc.shape
    z = loc + scale * torch.randn(shape, device=x.device)
    logits = vae.decoder(z)
    log_lik = (x * logits - F.softplus(logits)).sum(-1)
    log_prior = (-0.5 * z ** 2 - 0.5 * LOG_2PI).sum(-1)
    if name == "meanfield":  # analytic KL(N(loc, scale) || N(0, I))
        kl = 0.5 * (loc ** 2 + scale ** 2 - 1.0 - 2 * scale.log()).sum(-1)
        return -(log_lik - kl).sum() if k == 1 else -(log_lik.mean(0) - kl).sum()
    if name == "elbo":
        log_w = log_prior + log_lik - _normal_log_prob(z, loc, scale)
        return -log_w.sum() if k == 1 else -log_w.mean(0).sum()
    log_w = log_prior + log_lik - _normal_log_prob(z, loc, scale)
    if name == "iwae":
        return -(log_w.logsumexp(0) - math.log(k)).sum()
    raise ValueError(name)


def pure_dreg_step(vae, x, k, opt):
    """DReG by hand: decoder gets the IWAE gradient, encoder sum_k w~_k^2 d log w_k / dz dz/dphi."""
    loc, scale = vae.encoder(x)
    z = loc + scale * torch.randn((k,) + loc.shape, device=x.device)
    logits = vae.decoder(z)
    log_lik = (x * logits - F.softplus(logits)).sum(-1)
    log_prior = (-0.5 * z ** 2 - 0.5 * LOG_2PI).sum(-1)
    log_q_stop = _normal_log_prob(z, loc.detach(), scale.detach())  # path derivative only
    log_w = log_prior + log_lik - log_q_stop
    w_tilde = log_w.detach().softmax(0)
    dec_params = list(vae.decoder.parameters())
    enc_params = list(vae.encoder.parameters())
    iwae = -(log_w.logsumexp(0) - math.log(k)).sum()
    iwae.backward(inputs=dec_params, retain_graph=True)
    (-(w_tilde ** 2 * log_w).sum()).backward(inputs=enc_params)
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(iwae)


def make_steppers(name, k, device, x_all, batch):
    import pyro

    pyro.clear_param_store()
    from pyro_vae.infer.losses import make_loss
    from pyro_vae.registry import build_model
    from pyro_vae.training.trainer import make_optimizer, svi_step

    data = {"x_dim": 784, "kind": "binary", "image_shape": [28, 28]}
    torch.manual_seed(0)
    ours_vae = build_model("vae", data).to(device)
    pure_vae = build_model("vae", data).to(device)
    pure_vae.load_state_dict(ours_vae.state_dict())
    ours_opt, pure_opt = make_optimizer(ours_vae, 1e-3), make_optimizer(pure_vae, 1e-3)  # the same Adam
    loss = make_loss(name, k)
    gen = torch.Generator().manual_seed(0)

    def batch_x():
        idx = torch.randint(len(x_all), (batch,), generator=gen)
        return x_all[idx].to(device)

    def ours(steps):  # the trainer's step, with validation off as after a run's first step
        with pyro.validation_enabled(False):
            for _ in range(steps):
                svi_step(loss, ours_vae, ours_opt, (batch_x(),))

    def pure(steps):
        for _ in range(steps):
            if name == "dreg":
                pure_dreg_step(pure_vae, batch_x(), k, pure_opt)
                continue
            out = pure_objective(pure_vae, batch_x(), name, k)
            out.backward()
            float(out.detach())  # the same host sync as loss_and_grads' returned float
            pure_opt.step()
            pure_opt.zero_grad(set_to_none=True)

    return ours, pure


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-size", type=int, default=100)
    p.add_argument("--steps", type=int, default=50, help="steps per implementation per round")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--estimators", default="elbo:1,meanfield:1,iwae:5,dreg:5")
    args = p.parse_args()

    from pyro_vae.data import load_dataset

    x_all = load_dataset("mnist5k").for_likelihood("bernoulli").train_epoch(0, seed=0)
    rows = []
    for item in args.estimators.split(","):
        name, k = item.split(":")
        k = int(k)
        ours, pure = make_steppers(name, k, args.device, x_all, args.batch_size)
        ours(5), pure(5)  # warm-up
        rates = {"ours": [], "pure": []}
        for _ in range(args.rounds):
            for label, fn in (("ours", ours), ("pure", pure)):
                if args.device == "cuda":
                    torch.cuda.synchronize()
                t0 = time.perf_counter()
                fn(args.steps)
                if args.device == "cuda":
                    torch.cuda.synchronize()
                rates[label].append(args.steps / (time.perf_counter() - t0))
        ours_rate, pure_rate = statistics.median(rates["ours"]), statistics.median(rates["pure"])
        rows.append({"estimator": name, "k": k, "ours_steps_per_s": ours_rate, "pure_steps_per_s": pure_rate,
                     "speed_ratio": ours_rate / pure_rate,
                     "ours_ms_per_step": 1000 / ours_rate, "overhead_ms_per_step": 1000 / ours_rate - 1000 / pure_rate})
        print(f"{name:>9} K={k}: ours {ours_rate:7.1f} steps/s, pure PyTorch {pure_rate:7.1f} steps/s, "
              f"ratio {ours_rate / pure_rate:.3f}", flush=True)
    table = markdown_table(rows, [("estimator", "estimator"), ("k", "K"), ("ours_steps_per_s", "ours steps/s"),
                                  ("pure_steps_per_s", "pure PyTorch steps/s"), ("speed_ratio", "speed_ratio"),
                                  ("overhead_ms_per_step", "overhead ms/step")])
    budget = (f"1-layer VAE 784-200-200-50 tanh, batch {args.batch_size}, Adam 1e-3, device {args.device}; "
              f"{args.rounds} interleaved rounds of {args.steps} steps, medians")
    payload = {"benchmark": "speed", "budget": budget, "machine": machine(), "rows": rows, "table": table,
               "target": "speed_ratio >= 0.9"}
    path = write_results(f"speed_{args.device}", payload)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
