"""Neural models and the training engine: reproducibility, resume, NaN guard, quality, bad input."""

import json

import numpy as np
import pytest
import torch
from sklearn.base import clone

import latentspace as ls
from latentspace.errors import InputError
from latentspace.models.autoencoder import DenoisingAutoencoder
from latentspace.models.vae import VAE, BetaVAE
from latentspace.train import TrainingDiverged
from latentspace.train.engine import Trainer

SMALL = dict(hidden=(64,), epochs=3, batch_size=64, threads=1)


def weights(model):
    return {k: v.detach().clone() for k, v in model.net_.state_dict().items()}


def assert_same_weights(a, b, atol=0.0):
    wa, wb = weights(a), weights(b)
    assert wa.keys() == wb.keys()
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], atol=atol, rtol=0)


@pytest.mark.parametrize("name", ["ae", "dae", "vae", "beta_vae"])
def test_same_seed_same_weights(digits, name):
    a = ls.create_model(name, latent_dim=4, random_state=5, **SMALL).fit(digits.X)
    b = ls.create_model(name, latent_dim=4, random_state=5, **SMALL).fit(digits.X)
    c = ls.create_model(name, latent_dim=4, random_state=6, **SMALL).fit(digits.X)
    assert_same_weights(a, b)
    assert not torch.equal(weights(a)["encoder.0.weight"], weights(c)["encoder.0.weight"])


def test_resume_ends_where_an_uninterrupted_run_ends(digits, tmp_path, monkeypatch):
    params = dict(
        latent_dim=4,
        random_state=1,
        hidden=(32,),
        epochs=4,
        batch_size=100,
        threads=1,
        lr_schedule="plateau",
        patience=10,
    )
    whole = VAE(**params).fit(digits.X, checkpoint_dir=tmp_path / "a")

    def interrupt(self, epoch):
        if epoch == 2:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_end_of_epoch", interrupt)
    with pytest.raises(KeyboardInterrupt):
        VAE(**params).fit(digits.X, checkpoint_dir=tmp_path / "b")
    monkeypatch.undo()
    resumed = VAE(**params).fit(digits.X, checkpoint_dir=tmp_path / "b", resume=True)
    assert [h["epoch"] for h in resumed.history_] == [1, 2, 3, 4]
    assert_same_weights(whole, resumed, atol=1e-6)
    np.testing.assert_allclose(
        [h["val_loss"] for h in resumed.history_], [h["val_loss"] for h in whole.history_], rtol=1e-6
    )


@pytest.mark.parametrize("path", ["autograd", "fused"])
def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(digits, tmp_path, monkeypatch, path):
    from latentspace.models.fused import FusedStep

    calls = {"n": 0}
    steps_per_epoch = int(np.ceil(round(0.9 * digits.n) / 64))

    def poison(original):
        def poisoned(self, x, progress, gen, *rest):
            out = original(self, x, progress, gen, *rest)
            if not rest or rest[0]:  # training (the fused step only ever trains)
                calls["n"] += 1
                if calls["n"] == steps_per_epoch + 3:  # epoch 2, step 3
                    out["loss"] = out["loss"] * float("nan")
            return out

        return poisoned

    if path == "autograd":
        monkeypatch.setenv("LATENTSPACE_FUSED", "0")
        monkeypatch.setattr(VAE, "_loss", poison(VAE._loss))
    else:
        monkeypatch.setattr(FusedStep, "__call__", poison(FusedStep.__call__))
    with pytest.raises(
        TrainingDiverged, match=r"became nan at epoch 2, step 3; the last good checkpoint \(end of epoch 1\)"
    ):
        VAE(latent_dim=3, random_state=0, **SMALL).fit(digits.X, checkpoint_dir=tmp_path)
    assert calls["n"] == steps_per_epoch + 3
    monkeypatch.undo()
    # the last good checkpoint loads, and training resumes from it to the end
    model = VAE(latent_dim=3, random_state=0, **SMALL).fit(digits.X, checkpoint_dir=tmp_path, resume=True)
    assert len(model.history_) == SMALL["epochs"] and np.isfinite(model.history_[-1]["train_loss"])


def test_vae_beats_pca_on_mnist_reconstruction(mnist):
    train, test = mnist.X[:12_000], mnist.X[60_000:62_000]
    pca = ls.PCA(16).fit(train)
    vae = VAE(16, arch="mlp", hidden=(512,), epochs=6, batch_size=128, random_state=0).fit(train)
    pca_mse = np.mean((pca.decode(pca.encode(test)) - test) ** 2)
    vae_mse = np.mean((vae.decode(vae.encode(test)) - test) ** 2)
    assert vae_mse < 0.9 * pca_mse, (vae_mse, pca_mse)
    # IWAE is a tighter bound: per row never below the mean ELBO of the same samples
    elbo, iwae = vae._bounds(test[:500], 50, 0, "t")
    assert np.all(iwae >= elbo - 1e-6)
    assert iwae.mean() > vae.elbo(test[:500]).mean()
    assert -200 < iwae.mean() < -60  # nats per image: a sane range for a short-trained MNIST VAE


def test_image_data_gets_conv_nets(digits):
    vae = VAE(3, sample_shape=(1, 8, 8), **SMALL).fit(digits.X)
    assert vae.arch_ == "conv" and vae.likelihood_ == "bernoulli"
    flat = VAE(3, **SMALL).fit(digits.X)
    assert flat.arch_ == "mlp"
    gauss = VAE(2, **SMALL).fit(digits.X * 3 - 1)
    assert gauss.likelihood_ == "gaussian"


def test_beta_weighs_the_kl(digits):
    kl = {
        b: BetaVAE(4, beta=b, random_state=0, **SMALL).fit(digits.X).history_[-1]["val_kl"]
        for b in (1.0, 8.0)
    }
    assert kl[8.0] < 0.7 * kl[1.0]


def test_capacity_schedule_tracks_target(digits):
    m = BetaVAE(4, beta=20.0, capacity_max=6.0, random_state=0, **dict(SMALL, epochs=6)).fit(digits.X)
    assert abs(m.history_[-1]["val_kl"] - 6.0) < 3.0


def test_dae_denoises(digits):
    dae = DenoisingAutoencoder(
        12, noise="masking", noise_level=0.3, random_state=0, **dict(SMALL, epochs=15)
    ).fit(digits.X)
    noisy = dae.corrupt(digits.X, random_state=1)
    assert np.mean(noisy == 0) > np.mean(digits.X == 0) + 0.15
    assert np.mean((dae.denoise(noisy) - digits.X) ** 2) < 0.6 * np.mean((noisy - digits.X) ** 2)


def test_ae_sample_follows_latent_gaussian(digits):
    ae = ls.create_model("ae", latent_dim=3, random_state=0, **SMALL).fit(digits.X)
    Z = ae.encode(ae.sample(4000, random_state=0))
    z_train = ae.encode(digits.X)
    np.testing.assert_allclose(Z.mean(0), z_train.mean(0), atol=0.25 * z_train.std(0).max())


def test_sklearn_clone_keeps_params():
    m = BetaVAE(5, beta=2.0, hidden=(32, 16))
    twin = clone(m)
    assert twin.get_params() == m.get_params() and twin.beta == 2.0


@pytest.mark.parametrize(
    "model, params, message",
    [
        (BetaVAE, {"beta": -1.0}, r"beta must be a finite number in \[0, inf\); got -1.0"),
        (VAE, {"epochs": 0}, r"epochs must be an int in \[1, inf\]; got 0"),
        (
            VAE,
            {"latent_dim": 64},
            "latent_dim = 64 is larger than allowed: it must be smaller than the input's 64 features",
        ),
        (VAE, {"lr": 0.0}, r"lr must be a finite number in \(0, inf\)"),
        (VAE, {"hidden": (64, -2)}, "hidden must be a non-empty list of positive ints"),
        (DenoisingAutoencoder, {"noise": "masking", "noise_level": 1.5}, "must be in \\(0, 1\\)"),
        (VAE, {"arch": "conv"}, "arch='conv' needs image data"),
    ],
)
def test_bad_hyperparameters_are_refused_before_training(digits, model, params, message, monkeypatch):
    monkeypatch.setattr(Trainer, "fit", lambda *a: pytest.fail("training started"))
    with pytest.raises(InputError, match=message):
        model(**{"latent_dim": 4, **params}).fit(digits.X)


def test_bernoulli_needs_unit_interval(digits, monkeypatch):
    monkeypatch.setattr(Trainer, "fit", lambda *a: pytest.fail("training started"))
    with pytest.raises(
        InputError, match=r"has 2.0 at row 0, column 0; a Bernoulli likelihood needs every value in \[0, 1\]"
    ):
        VAE(3, likelihood="bernoulli").fit(digits.X + 2)


def test_cuda_without_gpu_is_a_clear_error(digits):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(InputError, match="no CUDA GPU is available"):
        VAE(3, device="cuda", **SMALL).fit(digits.X)


def test_pipeline_run_with_history_and_resume_guard(digits, tmp_path):
    run = ls.fit(digits, "vae", latent_dim=3, out=tmp_path / "v", **SMALL)
    history = json.loads((run.path / "history.json").read_text())
    assert [h["epoch"] for h in history] == [1, 2, 3]
    assert (run.path / "checkpoints" / "train" / "last.safetensors").is_file()
    model = run.load_model()
    np.testing.assert_allclose(model.encode(digits.X), run.latent_matrix(), atol=1e-6)
    assert not list(tmp_path.glob(".v.*"))  # checkpoints moved into the run
    with pytest.raises(InputError, match="nothing to resume: no interrupted training"):
        ls.fit(digits, "vae", latent_dim=3, out=tmp_path / "w", resume=True, **SMALL)


def test_cli_resume_after_interruption(digits, tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from latentspace.cli import app

    args = [
        "fit",
        "-d",
        "digits",
        "-m",
        "vae",
        "-k",
        "3",
        "--epochs",
        "3",
        "--batch-size",
        "64",
        "-p",
        "hidden=[32]",
        "--threads",
        "1",
        "-o",
        str(tmp_path / "v"),
    ]
    whole = CliRunner().invoke(app, [*args[:-1], str(tmp_path / "whole")])
    assert whole.exit_code == 0, whole.output

    def interrupt(self, epoch):
        if epoch == 1:
            raise KeyboardInterrupt

    monkeypatch.setattr(Trainer, "_end_of_epoch", interrupt)
    interrupted = CliRunner().invoke(app, args)
    assert interrupted.exit_code == 130 and "--resume" in interrupted.output
    assert not (tmp_path / "v").exists() and (tmp_path / ".v.checkpoints").is_dir()
    monkeypatch.undo()
    changed = CliRunner().invoke(app, [*args, "--seed", "9", "--resume"])
    assert changed.exit_code == 2
    assert "cannot resume: params, seed, split differ from the interrupted run" in " ".join(
        changed.output.split()
    )
    result = CliRunner().invoke(app, [*args, "--resume"])
    assert result.exit_code == 0, result.output
    a, b = ls.open_run(tmp_path / "whole"), ls.open_run(tmp_path / "v")
    np.testing.assert_allclose(a.latent_matrix(), b.latent_matrix(), atol=1e-5)


def test_direct_adamw_step_is_torchs_fused_adamw_bit_for_bit():
    """The engine's direct fused-AdamW step (no Optimizer.step bookkeeping) makes torch's own update:
    the same weights and state (step counters included), bit for bit, through a learning-rate change
    and weight decay, and it falls back to opt.step() when a hook is registered."""
    import copy

    import torch

    from latentspace.train.engine import _DirectAdamW

    torch.manual_seed(0)
    a = torch.nn.Sequential(torch.nn.Linear(20, 16), torch.nn.ReLU(), torch.nn.Linear(16, 4))
    b = copy.deepcopy(a)
    oa = torch.optim.AdamW(a.parameters(), lr=1e-2, weight_decay=0.1, fused=True)
    ob = torch.optim.AdamW(b.parameters(), lr=1e-2, weight_decay=0.1, fused=True)
    direct = _DirectAdamW(ob)
    assert direct.usable
    x = torch.randn(32, 20)
    for i in range(12):
        for net in (a, b):
            net.zero_grad()
            net(x).pow(2).mean().backward()
        oa.step()
        direct.step()
        if i == 5:
            oa.param_groups[0]["lr"] = ob.param_groups[0]["lr"] = 3e-3
    assert direct.cached is not None  # the direct path was taken after the first step
    assert direct.cached[4] is not None  # with the CPU step counters counted up by numba
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    sa, sb = oa.state_dict()["state"], ob.state_dict()["state"]
    for k in sa:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(sa[k][name], sb[k][name]), (k, name)
    ob.register_step_post_hook(lambda *args: None)
    assert not _DirectAdamW(ob).usable
