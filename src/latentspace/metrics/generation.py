"""Quality of generated data: Fréchet distance and kernel distance in the feature space of a
classifier trained on the dataset itself.

FID (Heusel et al. 2017, "GANs trained by a two time-scale update rule converge to a local Nash
equilibrium") and KID (Bińkowski et al. 2018, "Demystifying MMD GANs") compare generated and real
items in the features of Inception-v3, whose weights cannot be downloaded here and which know
nothing of 8x8 digits or tabular data. We train a small MLP classifier on the run's own labelled
training split (cached per dataset) and compare held-out real items with generated ones in two of
its layers at once: the first hidden layer (256 filters on the raw features; it reacts to strokes,
edges and values outside the data's range, so it sees blur and noise) and the penultimate layer
(128-d; what the class decision rests on, blind to blur that keeps the class). The features are
whitened by the real items (:class:`Whitener`), so both layers count and the cubic kernel of KID
sees features of order one, as it assumes. The numbers are therefore called
``fd_self`` and ``kd_self``: comparable between runs on the same data, not with published FIDs.
The real items are a random half of the held-out rows; the same distances between the two halves
are reported as the noise floor (the classifier never saw either half).
"""

from __future__ import annotations

import json
import logging
import warnings

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from .base import NotApplicable

log = logging.getLogger(__name__)
FEATURES = 128


class _Classifier(nn.Module):
    def __init__(self, d: int, classes: int):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, FEATURES), nn.ReLU())
        self.head = nn.Linear(FEATURES, classes)


def _train_classifier(X: np.ndarray, y: np.ndarray, seed: int) -> _Classifier:
    from ..train import Trainer, TrainSettings

    torch.manual_seed(seed)
    net = _Classifier(X.shape[1], int(y.max()) + 1)

    def loss(batch, progress, gen, training, phase):  # the last column carries the label
        logits = net.head(net.body(batch[:, :-1]))
        target = batch[:, -1].long()
        return {
            "loss": F.cross_entropy(logits, target),
            "accuracy": (logits.argmax(1) == target).float().mean().detach(),
        }

    data = np.column_stack([np.asarray(X, dtype=np.float32), y.astype(np.float32)])
    settings = TrainSettings(epochs=8, batch_size=256, lr=1e-3, val_fraction=0.1, seed=seed)
    history = Trainer(net, loss, settings).fit(data)
    log.info("feature classifier: validation accuracy %.4f", history[-1].get("val_accuracy", float("nan")))
    net.eval()
    return net


def feature_classifier(
    X_train: np.ndarray, y_train: np.ndarray, fingerprint: str, seed: int = 0
) -> _Classifier:
    """The dataset's feature classifier, trained once and cached by data fingerprint (safetensors)."""
    from safetensors.torch import load, save

    from ..atomic import atomic_write
    from ..data.mnist import cache_dir

    path = cache_dir() / "feature-classifiers" / f"{fingerprint[:32]}-s{seed}.safetensors"
    classes = int(y_train.max()) + 1
    if path.is_file():
        net = _Classifier(X_train.shape[1], classes)
        try:
            net.load_state_dict(load(path.read_bytes()))
            return net.eval()
        except Exception:  # a stale or damaged cache entry is rebuilt, never trusted
            log.warning("rebuilding the damaged feature classifier cache %s", path)
    net = _train_classifier(X_train, y_train, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(
        path,
        save(
            {k: v.contiguous() for k, v in net.state_dict().items()},
            metadata={"info": json.dumps({"classes": classes, "seed": seed})},
        ),
    )
    return net


@torch.no_grad()
def layers(net: _Classifier, X: np.ndarray, batch: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """The classifier's first hidden layer (n, 256) and penultimate layer (n, FEATURES) of ``X``."""
    first, last = [], []
    for i in range(0, len(X), batch):
        x = torch.from_numpy(np.ascontiguousarray(X[i : i + batch], dtype=np.float32))
        a = net.body[1](net.body[0](x))  # Linear -> ReLU
        first.append(a.numpy())
        last.append(net.body[3](net.body[2](a)).numpy())
    return np.concatenate(first).astype(np.float64), np.concatenate(last).astype(np.float64)


def features(net: _Classifier, X: np.ndarray) -> np.ndarray:
    """Both layers side by side: (n, 256 + FEATURES), raw (see :class:`Whitener`)."""
    return np.hstack(layers(net, X))


class Whitener:
    """Features whitened by the real items: centred on their mean and rotated and scaled so that
    their covariance becomes the identity (eigenvalues floored at 1% of the mean eigenvalue, so a
    direction the real items barely use stays finite and ``n`` < d still works).

    Whitened, every direction of the real features counts alike: the 256 first-layer units do not
    drown the 128 penultimate ones, and the cubic kernel of KID, (x.y / d + 1)^3, sees features of
    order one as it assumes. Measured on MNIST's held-out digits, raw or per-feature standardised
    features let KID rank PCA's blurred samples above the VAE's (it then weighs mostly the mean
    feature, which a Gaussian fitted to the data matches by construction); whitened, both
    distances rank them as the eye does (tests/test_generation.py)."""

    FLOOR = 0.01

    def __init__(self, real: np.ndarray):
        self.mean = real.mean(0)
        lam, vec = np.linalg.eigh(np.cov(real, rowvar=False))  # (d,), (d, d)
        lam = np.maximum(lam, 0.0)
        self.W = vec / np.sqrt(lam + self.FLOOR * max(float(lam.mean()), 1e-12))

    def __call__(self, F: np.ndarray) -> np.ndarray:
        return (F - self.mean) @ self.W


def frechet_distance(A: np.ndarray, B: np.ndarray) -> float:
    """||mu_A - mu_B||^2 + Tr(S_A + S_B - 2 (S_A S_B)^(1/2)) of two feature sets."""
    from scipy import linalg

    mu_a, mu_b = A.mean(0), B.mean(0)
    sa, sb = np.cov(A, rowvar=False), np.cov(B, rowvar=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        root = linalg.sqrtm(sa @ sb)
        if not np.all(np.isfinite(root)):  # singular product (few samples): offset as pytorch-fid does
            offset = 1e-6 * np.eye(len(sa))
            root = linalg.sqrtm((sa + offset) @ (sb + offset))
    return float(np.sum((mu_a - mu_b) ** 2) + np.trace(sa + sb - 2.0 * np.real(root)))


def kernel_distance(A: np.ndarray, B: np.ndarray, subsets: int = 50, size: int = 1000, seed: int = 0):
    """Unbiased MMD^2 with the cubic polynomial kernel (x.y / d + 1)^3, mean and std over subsets."""
    rng = np.random.default_rng(seed)
    d = A.shape[1]
    m = min(size, len(A), len(B))
    vals = []
    for _ in range(subsets):
        a, b = A[rng.choice(len(A), m, replace=False)], B[rng.choice(len(B), m, replace=False)]
        kaa, kbb, kab = (a @ a.T / d + 1) ** 3, (b @ b.T / d + 1) ** 3, (a @ b.T / d + 1) ** 3
        vals.append(
            (kaa.sum() - np.trace(kaa)) / (m * (m - 1))
            + (kbb.sum() - np.trace(kbb)) / (m * (m - 1))
            - 2 * kab.mean()
        )
    return float(np.mean(vals)), float(np.std(vals))


@torch.no_grad()
def class_shares(net: _Classifier, feats: np.ndarray) -> np.ndarray:
    """The share of items the classifier puts in each class, from their features."""
    logits = net.head(torch.from_numpy(feats.astype(np.float32)))
    return np.bincount(logits.argmax(1).numpy(), minlength=logits.shape[1]) / len(feats)


def coverage(fake_shares: np.ndarray, real_shares: np.ndarray) -> float:
    """The fraction of the data's classes that samples hit at least half as often as the data do:
    1.0 for a generator that draws every class, 1/C for one collapsed onto a single class."""
    present = real_shares > 0
    return float(np.mean(fake_shares[present] >= 0.5 * real_shares[present]))


DESCRIPTION = (
    "fd_self and kd_self: Fréchet distance (Heusel et al. 2017) and kernel distance (Bińkowski et al."
    " 2018) between samples and held-out real items, in the whitened features of two layers of a"
    " classifier trained on this dataset; lower is better. Checked to rank held-out real items below"
    " slightly blurred ones, those below heavily blurred ones and those below noise. They tell how far"
    " the samples' feature statistics (class content, strokes and edges, value range) lie from the"
    " data's, beside the floor of two halves of the real data; they cannot tell which samples are bad,"
    " reward samples that copy training items, say whether a model covers rare modes (see"
    " class_coverage), or be compared with published FIDs or across datasets."
)


def distances(
    net: _Classifier, real: np.ndarray, other: np.ndarray, seed: int = 0
) -> tuple[float, float, float]:
    """(fd, kd, kd_std) of items ``other`` from items ``real`` in the classifier's whitened
    features."""
    fr, fo = features(net, real), features(net, other)
    z = Whitener(fr)
    fr, fo = z(fr), z(fo)
    kd, kd_std = kernel_distance(fr, fo, seed=seed)
    return frechet_distance(fr, fo), kd, kd_std


def generation(model, X_train, y_train, X_test, fingerprint: str, n: int = 5000, seed: int = 0) -> dict:
    """fd_self / kd_self between ``n`` samples of the model and a random half of the held-out
    items, beside the same between the two halves (the floor) and what a collapsed generator cannot
    fake: class coverage and the share of samples per class (by the same classifier), and sample
    diversity (mean pairwise distance over the real items')."""
    if y_train is None:
        raise NotApplicable("needs labels to train the feature classifier (the data have none)")
    if len(X_test) < 100:
        raise NotApplicable("needs at least 100 held-out items")
    net = feature_classifier(X_train, y_train, fingerprint, seed)
    rng = np.random.default_rng(seed)
    n = min(n, len(X_test) // 2)
    order = rng.permutation(len(X_test))  # held-out rows can be sorted (MNIST's by writer group)
    half_a, half_b = np.sort(order[:n]), np.sort(order[n : 2 * n])
    X_test = np.asarray(X_test)
    first_a, last_a = layers(net, X_test[half_a])
    first_b, last_b = layers(net, X_test[half_b])
    first_s, last_s = layers(net, model.sample(n, random_state=seed))
    z = Whitener(np.hstack([first_a, last_a]))
    real, ref, fake = (
        z(np.hstack(pair)) for pair in ((first_a, last_a), (first_b, last_b), (first_s, last_s))
    )
    kd, kd_std = kernel_distance(real, fake, seed=seed)
    kd_floor, _ = kernel_distance(real, ref, seed=seed)
    fake_shares, real_shares = class_shares(net, last_s), class_shares(net, last_a)
    from ..models.gan import mean_pairwise_distance

    m = min(500, n)
    spread = mean_pairwise_distance(X_test[half_a[:m]]) or 1.0
    return {
        "class_coverage": coverage(fake_shares, real_shares),
        "class_share_min": float(fake_shares.min()),
        "class_share_max": float(fake_shares.max()),
        "sample_diversity": mean_pairwise_distance(model.sample(m, random_state=seed + 1)) / spread,
        "fd_self": frechet_distance(real, fake),
        "kd_self": kd,
        "kd_self_std": kd_std,
        "fd_self_real_vs_real": frechet_distance(real, ref),
        "kd_self_real_vs_real": kd_floor,
        "samples": n,
        "features": f"first hidden (256-d) and penultimate ({FEATURES}-d) layers of an MLP classifier"
        " trained on this dataset, whitened by the real items",
        "description": DESCRIPTION,
    }
