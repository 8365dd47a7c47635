import pyro
import pytest
import torch

from pyro_vae.declarative import (IAF, MLP, Bernoulli, Context, Conv28, DeclarativeModel, Gaussian, Label, Latent,
                                  Spec, VampPrior, validate)
from pyro_vae.errors import ModelError
from pyro_vae.infer import trace_particles
from pyro_vae.infer.estimators import DReG
from pyro_vae.registry import build_model

IMAGES = {"x_dim": 784, "kind": "binary", "image_shape": [28, 28], "num_classes": 10}
SMALL = {"x_dim": 64, "kind": "binary", "image_shape": [8, 8], "num_classes": 10}


@pytest.mark.parametrize("spec,message", [
    (Spec(latents=[]), "latents: declare at least one"),
    (Spec(latents=[Latent("z", 4, prior="cauchy")]), r"latents\[0\] \('z'\).prior: unknown prior 'cauchy'"),
    (Spec(latents=[Latent("z", 0)]), r"latents\[0\] \('z'\).dim must be a positive integer"),
    (Spec(latents=[Latent("z", 4, given="w")]), r"latents\[0\] \('z'\).given: 'w' is not a latent"),
    (Spec(latents=[Latent("a", 4, given="b"), Latent("b", 4, given="a")]), "cycle a -> b -> a"),
    (Spec(latents=[Latent("z", 4), Latent("z", 3)]), "must be unique"),
    (Spec(latents=[Latent("a", 4), Latent("b", 4)], likelihood=Bernoulli(given=["a"])),
     r"x does not depend on \['b'\]"),
    (Spec(latents=[Latent("a", 4)], likelihood=Bernoulli(given=["w"])), "likelihood.given: 'w' is not a latent"),
    (Spec(latents=[Latent("a", 4), Latent("b", 4, given=["a", "a"])]), r"\('b'\).given names a latent twice"),
    (Spec(latents=[Latent("a", 4, given=["c"]), Latent("b", 4, given=["a"]), Latent("c", 4, given=["b"])]),
     "cycle"),
    (Spec(latents=[Latent("x_features", 4)]), "must be unique and not"),
    (Spec(latents=[Latent("z", 4)], inference="sideways"), "inference must be one of bottom_up, top_down"),
    (Spec(latents=[Latent("z", 4)], inference="top_down", features=0), "features must be a positive integer"),
    (Spec(latents=[Latent("z", 4, prior="vamp")], inference="top_down"), "VampPrior needs the latent"),
    (Spec(latents=[Latent("z", 4, prior="vamp", posterior=IAF())]), "VampPrior needs the latent"),
    (Spec(latents=[Latent("z2", 4), Latent("z1", 4, given="z2", prior="mog")]), r"\('z1'\).prior: a latent with `given`"),
    (Spec(latents=[Latent("z2", 4, prior=VampPrior(5)), Latent("z1", 4, given="z2")]), "VampPrior needs the latent"),
    (Spec(latents=[Latent("z", 4)], likelihood=Bernoulli(Conv28())), "likelihood.net: Conv28 maps 28x28"),
    (Spec(latents=[Latent("z", 4)], encoder=MLP([8], "swish")), "encoder: unknown activation 'swish'"),
    (Spec(latents=[Latent("z", 4)], context=Context(3)), "context.num_classes is 3 but the data have 10"),
    (Spec(latents=[Latent("z", 4, kl_weight=0)]), "kl_weight must be positive"),
    # discrete latents and the label
    (Spec(latents=[Latent("c", 4, kind="poisson")]), r"\('c'\).kind: unknown kind 'poisson'"),
    (Spec(latents=[Latent("z", 4, relaxed=0.5)]), r"\('z'\).relaxed: only a discrete latent"),
    (Spec(latents=[Latent("c", 4, kind="categorical", relaxed=-1.0)]), r"\('c'\).relaxed must be a positive"),
    (Spec(latents=[Latent("c", 1, kind="categorical")]), r"\('c'\).dim: a categorical latent needs at least 2"),
    (Spec(latents=[Latent("b", 11, kind="bernoulli")]), r"\('b'\).dim: summing out 11 binary units"),
    (Spec(latents=[Latent("c", 4, kind="categorical", posterior=IAF())]), r"\('c'\).posterior: a categorical"),
    (Spec(latents=[Latent("c", 4, kind="categorical", prior="mog")]), r"\('c'\).prior: a top categorical"),
    (Spec(latents=[Latent("z", 4, label=Label())]), r"\('z'\).label: the label must be an exact categorical"),
    (Spec(latents=[Latent("y", 10, kind="categorical", label=Label()), Latent("w", 10, kind="categorical",
                                                                              label=Label())]), "only one latent"),
    (Spec(latents=[Latent("y", 3, kind="categorical", label=Label())]), "has 3 categories but the data have 10"),
    (Spec(latents=[Latent("y", 10, kind="categorical", label=Label())], context=Context(10)), "takes no context"),
    (Spec(latents=[Latent("y", 10, kind="categorical", label=Label(0))]), r"label.labelled_examples must be"),
    (Spec(latents=[Latent("y", 10, kind="categorical", label=Label(alpha=-1))]), r"label.alpha must be"),
    (Spec(latents=[Latent("y", 10, kind="categorical", label=Label()), Latent("z", 4)]),
     r"\('y'\).label: the label's guide factor reads \['x', 'z'\]"),
])
def test_invalid_specs_name_the_field(spec, message):
    with pytest.raises(ModelError, match=message):
        validate(spec, SMALL)


class _TwinOfZooVAE(DeclarativeModel):
    likelihood = "bernoulli"

    def declare(self):
        net = MLP([200, 200], "tanh")
        return Spec(latents=[Latent("z", 50)], likelihood=Bernoulli(net), encoder=net)


def test_declared_vae_is_the_hand_written_vae():
    """Same weights -> the same Pyro traces and log weights as models/vae.py, draw for draw."""
    torch.manual_seed(0)
    plain = build_model("vae", IMAGES)
    declared = _TwinOfZooVAE(IMAGES)
    declared.inference["z"].load_state_dict(plain.encoder.state_dict())
    declared.generative["likelihood"].load_state_dict(plain.decoder.state_dict())
    x = torch.bernoulli(torch.full((6, 784), 0.3))
    logs = []
    for m in (plain, declared):
        pyro.set_rng_seed(4)
        with torch.no_grad():
            logs.append(trace_particles(m.model, m.guide, (x,), num_particles=5, max_plate_nesting=1).log_weights())
    assert torch.allclose(logs[0], logs[1], atol=1e-5)


def test_a_chain_builds_the_implied_guide_and_trains_under_dreg():
    m = build_model("hvae2", SMALL, z1_dim=6, z2_dim=3)
    x = torch.bernoulli(torch.full((5, 64), 0.4))
    guide = pyro.poutine.trace(m.guide).get_trace(x)
    model = pyro.poutine.trace(pyro.poutine.replay(m.model, trace=guide)).get_trace(x)
    def sites(trace):
        return [n for n, s in trace.nodes.items() if s["type"] == "sample" and n != "data"]

    assert sites(guide) == ["z1", "z2"]  # q(z1 | x) then q(z2 | z1)
    assert sites(model) == ["z2", "z1", "x"]
    assert guide.nodes["z2"]["value"].shape == (5, 3) and guide.nodes["z1"]["value"].shape == (5, 6)
    m.zero_grad()
    DReG(num_particles=4).loss_and_grads(m.model, m.guide, x)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in m.parameters() if p.requires_grad)


def test_user_declared_model_in_a_few_lines_trains(tmp_path):
    from pyro_vae.registry import register_model
    from pyro_vae.training import TrainConfig, train

    @register_model("_test_gaussian_mog")
    class Tiny(DeclarativeModel):
        likelihood = "gaussian"

        def declare(self, z_dim=2):
            return Spec(latents=[Latent("z", z_dim, prior="mog")], likelihood=Gaussian(MLP([32])), encoder=MLP([32]))

    result = train(TrainConfig(model="_test_gaussian_mog", dataset="moons", epochs=4, progress=False, lr=3e-3),
                   tmp_path / "run")
    assert result.metrics[-1]["valid_elbo"] > result.metrics[0]["valid_elbo"]


def test_labels_are_required_by_a_conditional_model():
    from pyro_vae.errors import DataError

    m = build_model("cvae", SMALL, z_dim=3)
    with pytest.raises(DataError, match="conditioned on labels"):
        m.model(torch.zeros(2, 64))
