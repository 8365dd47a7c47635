"""Training speed: pyro-vae's SVI step, eager and captured, against a hand-written PyTorch step.

For each estimator (elbo, meanfield, iwae K=5, dreg K=5), the 1-layer Burda VAE (784-200-200-50,
tanh) at each batch size on binarized images, Adam 1e-3:

* ``eager``: the trainer's step with ``--capture off`` (:func:`pyro_vae.training.trainer.svi_step`):
  ``loss.loss_and_grads(model.model, model.guide, x)`` + one multi-tensor ``torch.optim.Adam``
  step, Pyro's validation off (the trainer validates a run's first step only);
* ``captured``: the same step captured once and replayed (:mod:`pyro_vae.training.capture`, the
  trainer's default); its one-off capture cost is reported;
* ``pure``: the same objective and gradient written by hand in PyTorch (reparameterized; for DReG
  the doubly reparameterized guide gradient), same optimizer, torch's ``F.softplus`` in the
  Bernoulli log-density;
* ``pure_same``: ``pure`` with :func:`pyro_vae.distributions.softplus.softplus`, the vectorized CPU
  softplus the library's ``BernoulliLogits`` uses (from 16384 logits, i.e. batch >= 21 here): the
  library's arithmetic written by hand, so ``captured_ratio_same`` is the library's own overhead
  while ``captured_ratio`` also holds the faster softplus.

On CUDA, where the captured step replays one CUDA graph
(:class:`pyro_vae.infer.cuda_graphs.CUDAGraphReplay`), ``pure_same`` is ``pure`` (torch's softplus
there) and two arms join: ``captured_ops`` (the captured graph replayed op by op, no CUDA graph)
and ``pure_graphed`` (the hand-written forward and backward recorded as a CUDA graph, the
optimizer outside, as in the library's step); ``captured_ratio_graphed`` is the library's step
over that one.

All run in this process, in rounds of palindromic order (eager, captured, ..., pure, pure_same,
pure_same, pure, ..., captured, eager; ``--steps`` steps each): each ``*_ratio`` is the median over
rounds of that step's rate over pure PyTorch's within the round (higher is better; target for
``captured``: >= 0.95 at batch 100), with quartiles; ``*_ratio_same`` the same over
``pure_same``. The 1-minute load average is recorded before and after each row and at each round;
rounds started above ``--max-load`` (default: this process's own threads plus 0.5 per core) are
dropped and counted.

    python benchmarks/speed.py                       # cpu, batch 20, 100 and 500
    python benchmarks/speed.py --device cuda
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import command_line, machine, markdown_table, write_results  # noqa: E402

LOG_2PI = math.log(2 * math.pi)


def _normal_log_prob(z, loc, scale):
    return (-0.5 * ((z - loc) / scale) ** 2 - scale.log() - 0.5 * LOG_2PI).sum(-1)


def pure_objective(vae, x, name, k, softplus=F.softplus):
    """The per-batch loss (negative objective) whose gradient each estimator follows, by hand."""
    loc, scale = vae.encoder(x)
    shape = (k,) + loc.shape if k > 1 else loc.shape
    z = loc + scale * torch.randn(shape, device=x.device)
    logits = vae.decoder(z)
    log_lik = (x * logits - softplus(logits)).sum(-1)
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


def _dreg_terms(vae, x, k, softplus=F.softplus):
    """DReG by hand: ``(iwae_loss, encoder_surrogate)``; the decoder follows the IWAE loss's
    gradient, the encoder the surrogate's, sum_k w~_k^2 d log w_k / dz dz/dphi."""
    loc, scale = vae.encoder(x)
    z = loc + scale * torch.randn((k,) + loc.shape, device=x.device)
    logits = vae.decoder(z)
    log_lik = (x * logits - softplus(logits)).sum(-1)
    log_prior = (-0.5 * z ** 2 - 0.5 * LOG_2PI).sum(-1)
    log_q_stop = _normal_log_prob(z, loc.detach(), scale.detach())  # path derivative only
    log_w = log_prior + log_lik - log_q_stop
    w_tilde = log_w.detach().softmax(0)
    return -(log_w.logsumexp(0) - math.log(k)).sum(), -(w_tilde ** 2 * log_w).sum()


def pure_dreg_step(vae, x, k, opt, softplus=F.softplus):
    """One DReG step by hand (:func:`_dreg_terms`)."""
    iwae, surrogate = _dreg_terms(vae, x, k, softplus)
    iwae.backward(inputs=list(vae.decoder.parameters()), retain_graph=True)
    surrogate.backward(inputs=list(vae.encoder.parameters()))
    opt.step()
    opt.zero_grad(set_to_none=True)
    return float(iwae.detach())


def pure_loss_and_grads(vae, x, name, k) -> list:
    """``[loss, grad, ...]`` of the hand-written step, in ``vae.parameters()`` order (the CUDA-graph arm)."""
    params = list(vae.parameters())
    if name != "dreg":
        loss = pure_objective(vae, x, name, k)
        return [loss.detach()] + list(torch.autograd.grad(loss, params))
    iwae, surrogate = _dreg_terms(vae, x, k)
    decoder = {id(p) for p in vae.decoder.parameters()}
    dec = [p for p in params if id(p) in decoder]
    enc = [p for p in params if id(p) not in decoder]
    grads = dict(zip(map(id, dec), torch.autograd.grad(iwae, dec, retain_graph=True)))
    grads.update(zip(map(id, enc), torch.autograd.grad(surrogate, enc)))
    return [iwae.detach()] + [grads[id(p)] for p in params]


def graphed_steps(vae, opt, name, k, next_x):
    """``steps(n)``: the hand-written step with its forward and backward recorded once as a CUDA
    graph (:class:`pyro_vae.infer.cuda_graphs.CUDAGraphReplay`) and the optimizer outside, as in the
    library's captured step."""
    from pyro_vae.infer.cuda_graphs import CUDAGraphReplay

    params = list(vae.parameters())
    replay = []

    def fn(state, x):
        with torch.enable_grad():
            return pure_loss_and_grads(vae, x, name, k)

    def steps(n):
        for _ in range(n):
            x = next_x()
            if not replay:
                replay.append(CUDAGraphReplay(fn, params, (x,)))
            out = replay[0](params, (x,))
            for p, g in zip(params, out[1:]):
                p.grad = g.clone()
            float(out[0])
            opt.step()
            opt.zero_grad(set_to_none=True)
    return steps


def reference_vae(device):
    """The benchmark's network and optimizer: a seeded 1-layer VAE and the trainer's Adam."""
    from pyro_vae.registry import build_model
    from pyro_vae.training.trainer import make_optimizer

    torch.manual_seed(0)
    vae = build_model("vae", {"x_dim": 784, "kind": "binary", "image_shape": [28, 28]}).to(device)
    return vae, make_optimizer(vae, 1e-3)


def batch_sampler(x_all, batch, device, seed):
    gen = torch.Generator().manual_seed(seed)
    return lambda: x_all[torch.randint(len(x_all), (batch,), generator=gen)].to(device)


def loss_steps(vae, opt, loss_fn, next_x):
    """``steps(n)``: n optimizer steps on ``loss_fn(vae, x)``, with the host sync of the float that
    ``loss_and_grads`` returns; Pyro's validation off, as in the trainer after a run's first step."""
    import pyro

    def steps(n):
        with pyro.validation_enabled(False):
            for _ in range(n):
                out = loss_fn(vae, next_x())
                out.backward()
                float(out.detach())
                opt.step()
                opt.zero_grad(set_to_none=True)
    return steps


def make_steppers(name, k, device, x_all, batch):
    """``{"eager": ..., "captured": ..., "pure": ..., ...}``, each ``steps(n)`` on its own copy of
    the same seeded network; and the captured step (for its capture cost). On CPU also
    ``pure_same`` (the library's softplus by hand); on CUDA, where the captured step replays one
    CUDA graph, also ``captured_ops`` (its graph replayed op by op) and ``pure_graphed`` (the
    hand-written step under a CUDA graph)."""
    import pyro

    pyro.clear_param_store()
    from pyro_vae.distributions.softplus import softplus
    from pyro_vae.infer.losses import make_loss
    from pyro_vae.training.capture import CapturedStep
    from pyro_vae.training.trainer import svi_step

    loss = make_loss(name, k)
    cap_vae, cap_opt = reference_vae(device)
    captured = CapturedStep(make_loss(name, k), cap_vae, "on")
    batch_x = batch_sampler(x_all, batch, device, seed=0)

    def stepper(step_loss, vae, opt):  # the trainer's step, with validation off as after a run's first step
        def steps(n):
            with pyro.validation_enabled(False):
                for _ in range(n):
                    svi_step(step_loss, vae, opt, (batch_x(),))
        return steps

    def by_hand(vae, opt, sp):
        if name != "dreg":
            return loss_steps(vae, opt, lambda vae, x: pure_objective(vae, x, name, k, sp), batch_x)

        def steps(n):
            for _ in range(n):
                pure_dreg_step(vae, batch_x(), k, opt, sp)
        return steps

    impls = {"eager": stepper(loss, *reference_vae(device)), "captured": stepper(captured, cap_vae, cap_opt)}
    if device == "cuda":
        ops_vae, ops_opt = reference_vae(device)
        impls["captured_ops"] = stepper(CapturedStep(make_loss(name, k), ops_vae, "on", cuda_graphs=False),
                                        ops_vae, ops_opt)
        impls["pure_graphed"] = graphed_steps(*reference_vae(device), name, k, batch_x)
    impls["pure"] = by_hand(*reference_vae(device), F.softplus)
    if device == "cpu":
        impls["pure_same"] = by_hand(*reference_vae(device), softplus)
    return impls, captured


def breakdown_steppers(device, x_all, batch):
    """Where the time of an ``elbo`` step goes: the same step built up from pure PyTorch.

    ``distributions``: the same loss from the ``pyro.distributions`` objects the zoo model builds
    (Normal, Bernoulli, ``to_event``), no Pyro handlers; ``handlers``: the model/guide pair run
    under ``poutine.trace`` / ``poutine.replay`` (``pyro.module``, plate, sample sites), the
    log-densities summed by hand; ``ours``: ``Trace_ELBO.loss_and_grads`` through the trainer's
    eager step; ``captured``: that step captured once and replayed.

    The pure reference here is ``pure_same`` (the library's softplus written by hand), so that
    each stage's added time is the library's, not the difference between two softplus kernels.
    """
    import pyro.distributions as dist
    import pyro.poutine as poutine
    from pyro.poutine.util import site_is_subsample

    impls, _ = make_steppers("elbo", 1, device, x_all, batch)
    batch_x = batch_sampler(x_all, batch, device, seed=1)

    def distributions_loss(vae, x):
        loc, scale = vae.encoder(x)
        q = dist.Normal(loc, scale).to_event(1)
        z = q.rsample()
        prior = dist.Normal(x.new_zeros(vae.z_dim), x.new_ones(vae.z_dim)).to_event(1)
        return -(vae.observation(z).log_prob(x) + prior.log_prob(z) - q.log_prob(z)).sum()

    def handlers_loss(vae, x):
        guide_trace = poutine.trace(vae.guide).get_trace(x)
        model_trace = poutine.trace(poutine.replay(vae.model, trace=guide_trace)).get_trace(x)
        log_w = 0.0
        for trace, sign in ((model_trace, 1.0), (guide_trace, -1.0)):
            for site in trace.nodes.values():
                if site["type"] == "sample" and not site_is_subsample(site):
                    log_w = log_w + sign * site["fn"].log_prob(site["value"])
        return -log_w.sum()

    return {"distributions": loss_steps(*reference_vae(device), distributions_loss, batch_x),
            "handlers": loss_steps(*reference_vae(device), handlers_loss, batch_x),
            "ours": impls["eager"], "captured": impls["captured"]}, impls.get("pure_same", impls["pure"])


def max_load_default() -> float:
    """This process's own threads plus half a core of everyone else's."""
    return torch.get_num_threads() + 0.5 * (os.cpu_count() or 1)


def time_rounds(impls: dict, rounds, steps, sync, max_load=None):
    """Rounds in palindromic order (A B C C B A): per round, each implementation's rate over both of
    its halves; ``ratios[name]``: per-round rate over ``pure``'s (``ratios[name + "_same"]``: over
    ``pure_same``'s, when timed). Pairing within a round cancels the slow drift of a shared CPU
    that unpaired medians let through. Rounds started above
    ``max_load`` (1-minute load average) are dropped; returns ``(ratios, rates, loads, dropped)``."""

    def rate(fn):
        sync()
        t0 = time.perf_counter()
        fn(steps)
        sync()
        return steps / (time.perf_counter() - t0)

    names = list(impls)
    refs = [r for r in ("pure", "pure_same") if r in names]
    ratios = {n + ("_same" if ref == "pure_same" else ""): [] for ref in refs for n in names if n not in refs}
    rates = {n: [] for n in names}
    loads, dropped = [], 0
    for _ in range(rounds):
        load = os.getloadavg()[0]
        times = {n: [] for n in names}
        for n in names + names[::-1]:
            times[n].append(1 / rate(impls[n]))
        if max_load is not None and load > max_load:
            dropped += 1
            continue
        loads.append(load)
        per = {n: 2 / sum(t) for n, t in times.items()}  # steps/s over both halves
        for n in names:
            rates[n].append(per[n])
        for n in ratios:
            if n.endswith("_same"):
                ratios[n].append(per[n[: -len("_same")]] / per["pure_same"])
            else:
                ratios[n].append(per[n] / per["pure"])
    return ratios, rates, loads, dropped


def quartiles(values):
    q = statistics.quantiles(values, n=4)
    return q[0], q[2]


def measure_breakdown(args, x_all, sync) -> dict:
    """Each stage of :func:`breakdown_steppers` timed in paired rounds against pure PyTorch."""
    steppers, pure = breakdown_steppers(args.device, x_all, 100)
    pure(5)
    measured, pure_rates_all = {}, []
    for stage, fn in steppers.items():
        fn(5)
        ratios, rates, _, _ = time_rounds({stage: fn, "pure": pure}, args.rounds, args.steps, sync)
        measured[stage] = statistics.median(ratios[stage])
        pure_rates_all += rates["pure"]
        print(f"breakdown {stage:>13}: ratio to pure {measured[stage]:.3f}", flush=True)
    pure_ms = 1000 / statistics.median(pure_rates_all)  # one pure step time for every stage
    rows, previous_ms = [{"stage": "pure", "ratio_to_pure": 1.0, "ms_per_step": pure_ms, "added_ms": 0.0}], pure_ms
    for stage, ratio in measured.items():
        ms = pure_ms / ratio
        rows.append({"stage": stage, "ratio_to_pure": ratio, "ms_per_step": ms, "added_ms": ms - previous_ms})
        previous_ms = ms
    table = markdown_table(rows, [("stage", "elbo step, built up from pure PyTorch"),
                                  ("ratio_to_pure", "pure / this"), ("ms_per_step", "ms/step"),
                                  ("added_ms", "added ms/step")])
    print(table)
    return {"rows": rows, "table": table, "stages": " ".join(breakdown_steppers.__doc__.split("\n\n")[1].split())}


def measure_row(name, k, batch, args, x_all, sync) -> dict:
    impls, captured = make_steppers(name, k, args.device, x_all, batch)
    load_before = list(os.getloadavg())
    for fn in impls.values():
        fn(5)  # warm-up; the captured step captures on its third call
    assert captured.captured, captured.eager_reason
    ratios, rates, loads, dropped = time_rounds(impls, args.rounds, args.steps, sync, args.max_load)
    if not loads:
        raise SystemExit(f"every round of {name} K={k} batch {batch} started above load {args.max_load}: "
                         f"rerun on a quieter machine")
    row = {"estimator": name, "k": k, "batch": batch, "rounds_kept": len(loads), "rounds_dropped": dropped,
           "capture_s": captured.capture_seconds}
    for n in impls:
        row[f"{n}_steps_per_s"] = statistics.median(rates[n])
    if "pure_graphed" in rates:  # the library's CUDA-graph step against the hand-written one
        ratios["captured_vs_graphed"] = [c / g for c, g in zip(rates["captured"], rates["pure_graphed"])]
    for n, values in ratios.items():
        stem, same = (n[: -len("_same")], "_same") if n.endswith("_same") else (n, "")
        key = f"{stem}_ratio{same}" if stem != "captured_vs_graphed" else "captured_ratio_graphed"
        row[key] = statistics.median(values)
        row[f"{key}_q1"], row[f"{key}_q3"] = quartiles(values)
    row["load_rounds_median"] = statistics.median(loads)
    row["load_before"], row["load_after"] = load_before, list(os.getloadavg())
    print(f"{name:>9} K={k} batch {batch}: eager {row['eager_ratio']:.3f} "
          f"[{row['eager_ratio_q1']:.3f}, {row['eager_ratio_q3']:.3f}], captured {row['captured_ratio']:.3f} "
          f"[{row['captured_ratio_q1']:.3f}, {row['captured_ratio_q3']:.3f}] of pure PyTorch "
          f"({row['pure_steps_per_s']:.1f} steps/s)"
          + (f", {row['captured_ratio_same']:.3f} of pure PyTorch with our softplus" if "captured_ratio_same" in row
             else f", {row['captured_ratio_graphed']:.3f} of pure PyTorch under a CUDA graph")
          + f"; capture {row['capture_s']:.2f} s; "
          f"load {load_before[0]:.2f} -> {row['load_after'][0]:.2f}", flush=True)
    return row


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch-sizes", default="20,100,500")
    p.add_argument("--steps", type=int, default=20, help="steps per implementation per half-round")
    p.add_argument("--rounds", type=int, default=15)
    p.add_argument("--estimators", default="elbo:1,meanfield:1,iwae:5,dreg:5")
    p.add_argument("--max-load", type=float, default=max_load_default(),
                   help="drop rounds started above this 1-minute load average")
    p.add_argument("--no-breakdown", dest="breakdown", action="store_false",
                   help="skip the elbo step built up stage by stage from pure PyTorch")
    args = p.parse_args()

    from pyro_vae.data import load_dataset

    sync = torch.cuda.synchronize if args.device == "cuda" else (lambda: None)
    data = load_dataset("mnist5k").for_likelihood("bernoulli")
    x_all = data.train_rows(torch.arange(len(data.train)), torch.Generator().manual_seed(0))
    rows = []
    for batch in (int(b) for b in args.batch_sizes.split(",")):
        for item in args.estimators.split(","):
            name, k = item.split(":")
            rows.append(measure_row(name, int(k), batch, args, x_all, sync))
    references = ([("captured_ratio_same", "captured / pure with our softplus")] if args.device == "cpu" else
                  [("captured_ops_ratio", "captured op by op"), ("pure_graphed_ratio", "pure under a CUDA graph"),
                   ("captured_ratio_graphed", "captured / pure under a CUDA graph")])
    table = markdown_table(rows, [
        ("estimator", "estimator"), ("k", "K"), ("batch", "batch"), ("pure_steps_per_s", "pure PyTorch steps/s"),
        ("eager_ratio", "eager ratio"), ("captured_ratio", "captured ratio"), ("captured_ratio_q1", "captured q1"),
        ("captured_ratio_q3", "captured q3")] + references + [
        ("capture_s", "capture s"), ("rounds_kept", "rounds"), ("load_rounds_median", "load (median of rounds)")])
    budget = (f"1-layer VAE 784-200-200-50 tanh, Adam 1e-3, device {args.device}; {args.rounds} palindromic "
              f"rounds of 2 x {args.steps} steps per implementation, rounds started above load "
              f"{args.max_load:.1f} dropped; medians and quartiles of the per-round ratio to pure PyTorch")
    breakdown = measure_breakdown(args, x_all, sync) if args.breakdown else None
    payload = {"benchmark": "speed", "budget": budget, "machine": machine(), "command": command_line(),
               "rows": rows, "table": table, "target": "captured_ratio >= 0.95 at batch 100",
               "breakdown": breakdown}
    path = write_results(f"speed_{args.device}", payload)
    print(table)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
