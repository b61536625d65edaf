"""Quality of generated data: Fréchet distance and kernel distance in the feature space of a
classifier trained on the dataset itself.

FID (Heusel et al. 2017) and KID (Bińkowski et al. 2018) use Inception-v3 features, whose weights
cannot be downloaded here and which know nothing of 8x8 digits or tabular data. We train a small
MLP classifier on the run's own labelled training split (cached per dataset) and compare its
128-d penultimate features of generated and held-out real items. The numbers are therefore
called ``fd_self`` and ``kd_self``: comparable between runs on the same data, not with published
FIDs. The same distances between two halves of the real data are reported as the noise floor.
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
def features(net: _Classifier, X: np.ndarray, batch: int = 4096) -> np.ndarray:
    out = [
        net.body(torch.from_numpy(np.ascontiguousarray(X[i : i + batch], dtype=np.float32))).numpy()
        for i in range(0, len(X), batch)
    ]
    return np.concatenate(out).astype(np.float64)


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


def generation(model, X_train, y_train, X_test, fingerprint: str, n: int = 5000, seed: int = 0) -> dict:
    """fd_self / kd_self between ``n`` samples of the model and held-out real items, beside what a
    collapsed generator cannot fake: class coverage and the share of samples per class (by the same
    classifier), and sample diversity (mean pairwise distance over the real items')."""
    if y_train is None:
        raise NotApplicable("needs labels to train the feature classifier (the data have none)")
    if len(X_test) < 100:
        raise NotApplicable("needs at least 100 held-out items")
    net = feature_classifier(X_train, y_train, fingerprint, seed)
    n = min(n, len(X_test))
    real = features(net, X_test[:n])
    fake = features(net, model.sample(n, random_state=seed))
    ref = features(net, X_train[np.random.default_rng(seed).choice(len(X_train), n, replace=False)])
    kd, kd_std = kernel_distance(real, fake, seed=seed)
    kd_floor, _ = kernel_distance(real, ref, seed=seed)
    fake_shares, real_shares = class_shares(net, fake), class_shares(net, real)
    from ..models.gan import mean_pairwise_distance

    m = min(500, n)
    spread = mean_pairwise_distance(np.asarray(X_test[:m])) or 1.0
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
        "features": f"penultimate layer ({FEATURES}-d) of an MLP classifier trained on this dataset",
    }
