"""Neural models and the training engine: reproducibility, resume, NaN guard, quality, bad input."""

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from sklearn.base import clone

import latentspace as ls
from latentspace.errors import InputError
from latentspace.models.autoencoder import DenoisingAutoencoder
from latentspace.models.vae import VAE, BetaVAE
from latentspace.train import TrainingDiverged
from latentspace.train.device import epoch_seed, generator, subnormals_flushed
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


def test_nan_loss_stops_with_epoch_and_step_and_keeps_checkpoint(digits, tmp_path, monkeypatch):
    calls = {"n": 0}
    steps_per_epoch = int(np.ceil(round(0.9 * digits.n) / 64))
    original = VAE._loss

    def poisoned(self, x, progress, gen, training, phase="main"):
        out = original(self, x, progress, gen, training, phase)
        if training:
            calls["n"] += 1
            if calls["n"] == steps_per_epoch + 3:  # epoch 2, step 3
                out["loss"] = out["loss"] * float("nan")
        return out

    monkeypatch.setattr(VAE, "_loss", poisoned)
    with pytest.raises(
        TrainingDiverged,
        match=r"became nan at epoch 2, step 3; the last good checkpoint is .*last.safetensors \(end of epoch 1\)",
    ):
        VAE(latent_dim=3, random_state=0, **SMALL).fit(digits.X, checkpoint_dir=tmp_path)
    assert calls["n"] == steps_per_epoch + 3
    monkeypatch.undo()
    # the last good checkpoint loads, and training resumes from it to the end
    model = VAE(latent_dim=3, random_state=0, **SMALL).fit(digits.X, checkpoint_dir=tmp_path, resume=True)
    assert len(model.history_) == SMALL["epochs"] and np.isfinite(model.history_[-1]["train_loss"])


def _fit_and_replay(model, X):
    """Fit ``model`` for one epoch, and replay that epoch by hand from the same initial weights:
    the engine's split and shuffle, the model's own ``_loss``, ``backward`` and a stock
    ``torch.optim.AdamW`` step. Returns (fitted model, replayed copy)."""
    assert model.epochs == 1 and model.val_fraction == 0.0
    init = {}
    train = type(model)._train

    def keep_init(self, X, settings):
        init.update({k: v.clone() for k, v in self.net_.state_dict().items()})
        return train(self, X, settings)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(type(model), "_train", keep_init)
        model.fit(X)
    replay = copy.deepcopy(model)
    replay.net_.load_state_dict(init)
    replay.net_.train()
    seed, n, bs = model.random_state, len(X), model.batch_size
    rows = torch.randperm(n, generator=torch.Generator().manual_seed(seed))  # the split (no validation)
    gen = generator(epoch_seed(seed, 0), torch.device("cpu"))
    order = rows[torch.randperm(n, generator=gen)]
    opt = torch.optim.AdamW(replay.net_.parameters(), lr=model.lr, weight_decay=model.weight_decay)
    steps = -(-n // bs)
    data = torch.from_numpy(np.asarray(X, dtype=np.float32))
    for step in range(steps):
        batch = data[order[step * bs : (step + 1) * bs]]
        loss = replay._loss(batch, step / steps, gen, True)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
    replay.net_.eval()
    return model, replay


class PenalisedVAE(VAE):
    """A VAE whose loss adds a penalty on the posterior means: the gradient training follows must be
    this loss's."""

    def _loss(self, x, progress, gen, training, phase="main"):
        out = super()._loss(x, progress, gen, training, phase)
        mu, _ = self._posterior(x)
        out["loss"] = out["loss"] + 5.0 * (mu**2).sum(1).mean()
        return out


def test_training_follows_a_subclass_loss(digits):
    """The engine trains through autograd on the model's own ``_loss``: a subclass's penalty moves
    the weights exactly as a hand-written loop on that loss does, and away from the parent's."""
    params = dict(latent_dim=3, hidden=(16,), epochs=1, batch_size=40, val_fraction=0.0, random_state=3)
    X = digits.X[:120]
    fitted, replay = _fit_and_replay(PenalisedVAE(device="cpu", threads=1, **params), X)
    parent = VAE(device="cpu", threads=1, **params).fit(X)
    assert_same_weights(fitted, replay, atol=1e-6)
    gap = weights(fitted)["encoder.2.weight"] - weights(parent)["encoder.2.weight"]
    assert float(gap.abs().max()) > 1e-3  # 3 steps of lr 1e-3 pushed by the penalty
    # the penalty pulls the means to 0: the trained encoder's means are smaller than the parent's
    assert np.abs(fitted.encode(X)).mean() < np.abs(parent.encode(X)).mean()


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
@pytest.mark.parametrize("name", ["vae", "ae"])
def test_a_one_row_last_batch_trains_like_autograd(digits, name, likelihood):
    """The last batch of an epoch can hold one row (65 rows in batches of 32)."""
    X = digits.X[:65] if likelihood == "bernoulli" else digits.X[:65] * 2 - 1
    model = ls.create_model(
        name, latent_dim=3, hidden=(8,), likelihood=likelihood, epochs=1, batch_size=32,
        val_fraction=0.0, random_state=2, device="cpu", threads=1,
    )  # fmt: skip
    fitted, replay = _fit_and_replay(model, X)
    assert np.isfinite(fitted.history_[-1]["train_loss"])
    assert_same_weights(fitted, replay, atol=1e-6)


def test_subnormals_are_flushed_in_training_only(digits, monkeypatch):
    if not torch.set_flush_denormal(False):
        pytest.skip("this CPU cannot flush subnormals")
    seen = []
    original = VAE._loss

    def watch(self, *args, **kwargs):
        seen.append(subnormals_flushed())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(VAE, "_loss", watch)
    assert not subnormals_flushed()
    VAE(3, random_state=0, **dict(SMALL, epochs=1)).fit(digits.X[:200])
    assert seen and all(seen)
    assert not subnormals_flushed()  # as it was before
    torch.set_flush_denormal(True)
    try:  # a caller's own setting is left as it was
        VAE(3, random_state=0, **dict(SMALL, epochs=1)).fit(digits.X[:200])
        assert subnormals_flushed()
    finally:
        torch.set_flush_denormal(False)


def test_no_thread_keeps_flushing_after_training():
    """Threads started while the flag is set inherit it for good: training in a fresh process (where
    it starts torch's thread pool) leaves every thread keeping subnormals."""
    code = (
        "import numpy as np, torch\n"
        "from latentspace.models.vae import VAE\n"
        "torch.set_num_threads(2)\n"
        "X = np.random.default_rng(0).random((256, 512), dtype=np.float32)\n"  # batches of 65536 values:
        "VAE(2, hidden=(8,), epochs=1, batch_size=128, device='cpu').fit(X)\n"  # parallel operations
        "t = torch.from_numpy(np.full(1 << 22, 1 << 20, dtype=np.int32).view(np.float32))\n"
        "kept = ((t * 1.0) != 0).float()\n"  # the halves of a parallel multiplication
        "assert kept[: 1 << 21].all() and kept[1 << 21 :].all(), (kept[: 1 << 21].mean(), kept[1 << 21 :].mean())\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr[-2000:]


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
            {"latent_dim": 65},
            "latent_dim = 65 is larger than allowed: at most the input's n_features = 64",
        ),
        (VAE, {"lr": 0.0}, r"lr must be a finite number in \(0, inf\)"),
        (VAE, {"hidden": (64, -2)}, "hidden must be a non-empty list of positive ints"),
        (VAE, {"hidden": [8] * 65}, r"hidden must be a non-empty list of positive ints \(at most 64\)"),
        (
            VAE,
            {"hidden": [100_000_000]},
            r"VAE: hidden = \[100000000\] makes a network of 14,200,000,073 parameters \(mlp, 64 input",
        ),
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


def test_threads_parameter_does_not_change_the_process():
    """A model's ``threads`` applies to its own training only: torch's setting is put back."""
    import torch

    before = torch.get_num_threads()
    X = np.random.default_rng(0).random((64, 12), dtype=np.float32)
    VAE(2, hidden=(8,), epochs=1, batch_size=32, device="cpu", threads=before + 1).fit(X)
    assert torch.get_num_threads() == before


def test_latent_dim_may_equal_the_feature_count():
    X = np.random.default_rng(0).normal(size=(40, 2)).astype(np.float32)
    vae = VAE(2, hidden=(8,), epochs=1, batch_size=20, threads=1, random_state=0).fit(X)
    assert vae.encode(X).shape == (40, 2)


# --- a row's score depends on the row and the seed, not on the rows beside it ------------------------
@pytest.fixture(scope="module")
def small_vae(digits):
    return VAE(4, random_state=0, **SMALL).fit(digits.X)


def test_a_rows_score_does_not_depend_on_its_batch(small_vae, digits):
    vae, X = small_vae, digits.X[:60]
    full = vae.score_samples(X)
    np.testing.assert_allclose(vae.score_samples(X[::-1])[::-1], full, rtol=1e-5)
    alone = np.array([vae.score_samples(X[i : i + 1])[0] for i in range(5)])
    np.testing.assert_allclose(alone, full[:5], rtol=1e-5)
    np.testing.assert_allclose(vae.score_samples(X[[7, 3, 7]]), full[[7, 3, 7]], rtol=1e-5)
    iwae = vae.log_likelihood(X[:20], k=16)
    np.testing.assert_allclose(vae.log_likelihood(X[:20][::-1], k=16)[::-1], iwae, rtol=1e-5)
    # the seed still matters: another seed draws other noise
    assert np.abs(vae.elbo(X, random_state=1) - full).max() > 0.01
    assert np.all(iwae >= vae.elbo(X[:20], n_samples=16) - 1e-6)  # IWAE >= ELBO with the same draws


def test_row_streams_are_standard_normal_and_independent():
    from latentspace.models.noise import row_keys, row_normals

    rows = np.random.default_rng(0).normal(size=(2000, 5)).astype(np.float32)
    keys = row_keys(rows, seed=3)
    assert len(np.unique(keys)) == 2000
    np.testing.assert_array_equal(row_keys(rows[[5, 5]], 3), keys[[5, 5]])  # equal rows, equal keys
    assert not np.any(row_keys(rows, seed=4) == keys)
    z = row_normals(keys, 100)  # (2000, 100)
    assert abs(z.mean()) < 0.005 and abs(z.std() - 1) < 0.005
    assert abs(np.mean(z**4) - 3) < 0.05  # Gaussian kurtosis
    assert abs(np.corrcoef(z[:-1].ravel(), z[1:].ravel())[0, 1]) < 0.005  # neighbouring rows
    assert abs(np.corrcoef(z[:, :-1].ravel(), z[:, 1:].ravel())[0, 1]) < 0.005  # successive draws
    np.testing.assert_array_equal(row_normals(keys[:3], 100), z[:3])


# --- the size of a network is bounded before anything is allocated --------------------------------
@pytest.fixture
def no_large_layers(monkeypatch):
    """Fail, instead of allocating gigabytes, if a Linear layer of over 10**8 weights is built off
    torch's meta device (where only shapes exist)."""
    original = torch.nn.Linear.__init__

    def guarded(self, in_features, out_features, *args, **kwargs):
        if in_features * out_features > 10**8 and torch.get_default_device().type != "meta":
            pytest.fail(f"a {in_features} x {out_features} layer was about to be allocated")
        original(self, in_features, out_features, *args, **kwargs)

    monkeypatch.setattr(torch.nn.Linear, "__init__", guarded)


@pytest.mark.parametrize(
    "name, params, message",
    [
        (
            "vae",
            {"hidden": [100_000_000]},
            r"VAE: hidden = \[100000000\] makes a network of 8,200,000,049 parameters \(mlp, at least 16 ",
        ),
        (
            "ae",
            {"latent_dim": 10**9},
            "Autoencoder: latent_dim = 1000000000 makes a network of 2,050,000,001,025 parameters",
        ),
        (
            "gan",
            {"channels": [100_000] * 3, "sample_shape": (1, 28, 28)},
            r"GAN: channels = \[100000, 100000, 100000\] makes a network of 960,484,935,954 parameters \(conv, 784 ",
        ),
    ],
)
def test_create_model_bounds_the_network_size(name, params, message, no_large_layers):
    with pytest.raises(InputError, match=message + r".* at most 2,147,483,648 \(2\*\*31\) are allowed"):
        ls.create_model(name, **params)


def test_fit_bounds_the_network_size_before_allocating(digits, no_large_layers, monkeypatch):
    monkeypatch.setattr(Trainer, "fit", lambda *a: pytest.fail("training started"))
    with pytest.raises(
        InputError, match=r"hidden = \[1000000, 1000000\] makes a network of 2,000,144,000,073 parameters"
    ):
        VAE(4, hidden=[1_000_000, 1_000_000]).fit(digits.X)


@pytest.mark.parametrize("name", ["ae", "dae", "vae", "beta_vae", "gan"])
def test_parameter_count_is_the_built_networks(name):
    model = ls.create_model(name, latent_dim=3, hidden=(16, 8), channels=(4, 8), sample_shape=(1, 12, 10))
    for d, arch in [(120, "conv"), (120, "mlp")]:
        model.n_features_in_, model.arch_ = d, arch
        built = sum(p.numel() for p in model._build_net().parameters())
        assert model.parameter_count(d, arch) == built > 1000


@pytest.mark.parametrize(
    "change, message",
    [
        (
            {"hidden": [100_000_000]},
            r"hidden = \[100000000\] makes a network of 52,300,066,952 parameters \(conv, 64 input",
        ),
        ({"latent_dim": 10**9}, "latent_dim = 1000000000 is larger than allowed: at most the input's"),
        ({"epochs": -1}, r"parameter epochs must be an int in \[1, inf\]; got -1"),
    ],
)
def test_a_tampered_run_config_is_checked_before_allocating(
    digits, tmp_path, change, message, no_large_layers
):
    """A run folder is untrusted: its checksums are unkeyed, so whoever can write it can re-sign an
    edited config. Its parameters pass fit's rules and the size bound before a network exists."""
    from latentspace.runfolder.folder import _config_digest

    run = ls.fit(digits, "vae", latent_dim=3, out=tmp_path / "r", hidden=(16,), epochs=1, threads=1)
    config = json.loads((run.path / "config.json").read_text())
    config["model"]["params"].update(change)
    config["config_sha256"] = _config_digest(config)
    (run.path / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=message):
        ls.open_run(run.path).load_model()
