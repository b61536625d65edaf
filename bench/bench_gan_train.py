"""GAN training on MNIST with its defaults, against a plain PyTorch loop over the same networks.

Usage: .venv/bin/python bench/bench_gan_train.py [--epochs 5] [--rows 60000]

Ours is ``GAN(32)`` with its default settings (DCGAN generator, spectrally normalised critic, hinge
loss, batch 64, lr 2e-4, betas (0.5, 0.999)) trained through latentspace's engine, which adds the
per-epoch diversity measure, checkpoints and the divergence guard; the encoder that inverts the
generator is trained after it and timed separately. The anchor is the loop a user would write: the
same two networks, the same loss and optimiser settings, ``--epochs`` passes over the same rows.
Reported: seconds for the GAN phase of each, the ratio (ours / anchor, lower is better), and what
makes a GAN worth having on both sides: sample diversity (mean pairwise distance of 500 samples over
500 real digits'), the least- and most-drawn class of 1,000 samples by a 3-NN classifier on real
digits, and our encoder's inversion error against the mean image's.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from sklearn.neighbors import KNeighborsClassifier
from torch.nn import functional as F

from common import header
from latentspace.data import load_builtin
from latentspace.models.gan import GAN, mean_pairwise_distance


def quality(sample, X, y, knn) -> tuple[float, float, float]:
    real = X[np.random.default_rng(1).choice(len(X), 500, replace=False)]
    diversity = mean_pairwise_distance(sample(500, 1)) / mean_pairwise_distance(real)
    shares = np.bincount(knn.predict(sample(1000, 0)), minlength=10) / 1000
    return diversity, float(shares.min()), float(shares.max())


def plain_loop(X: np.ndarray, fitted: GAN, epochs: int, seed: int = 0):
    """Fresh networks of ``fitted``'s architecture, trained by a hand-written loop."""
    torch.manual_seed(seed)
    net = fitted._build_net()
    gen, critic = net.decoder, net.critic
    og = torch.optim.Adam(gen.parameters(), 2e-4, betas=(0.5, 0.999))
    oc = torch.optim.Adam(critic.parameters(), 2e-4, betas=(0.5, 0.999))
    data = torch.from_numpy(X)
    k, bs = fitted.latent_dim, 64
    for _ in range(epochs):
        for rows in torch.randperm(len(X)).split(bs):
            x = data[rows] * 2 - 1
            with torch.no_grad():
                fake = torch.sigmoid(gen(torch.randn(len(x), k))) * 2 - 1
            loss = F.relu(1 - critic(x)).mean() + F.relu(1 + critic(fake)).mean()
            oc.zero_grad()
            loss.backward()
            oc.step()
            loss = -critic(torch.sigmoid(gen(torch.randn(len(x), k))) * 2 - 1).mean()
            og.zero_grad()
            loss.backward()
            og.step()
    gen.eval()

    @torch.no_grad()
    def sample(n, s):
        g = torch.Generator().manual_seed(s)
        return torch.sigmoid(gen(torch.randn(n, k, generator=g))).numpy()

    return sample


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--rows", type=int, default=60_000)
    ap.add_argument("--grid", help="write a PNG of 64 of our samples (8 x 8) here")
    args = ap.parse_args(argv)
    header("GAN training on MNIST", {"torch": torch.__version__})
    ds = load_builtin("mnist")
    X, y = np.asarray(ds.X[: args.rows]), np.asarray(ds.y[: args.rows])
    knn = KNeighborsClassifier(3).fit(X, y)

    t0 = time.perf_counter()
    ours = GAN(32, epochs=args.epochs, random_state=0).fit(X)
    total = time.perf_counter() - t0
    gan_s = sum(h["seconds"] for h in ours.history_ if h["stage"] == "gan")
    t0 = time.perf_counter()
    sample = plain_loop(X, ours, args.epochs)
    anchor_s = time.perf_counter() - t0

    def our_sample(n, s):
        return ours.sample(n, random_state=s)

    print(f"{'':28s}{'ours':>10s}{'plain loop':>12s}")
    print(f"{'GAN phase, s':28s}{gan_s:10.0f}{anchor_s:12.0f}   ratio {gan_s / anchor_s:.2f}")
    print(f"{'whole fit incl. encoder, s':28s}{total:10.0f}")
    for name, (a, b) in zip(
        ("sample diversity", "least-drawn class", "most-drawn class"),
        zip(quality(our_sample, X, y, knn), quality(sample, X, y, knn), strict=True),
        strict=True,
    ):
        print(f"{name:28s}{a:10.3f}{b:12.3f}")
    inv = ours.inversion_
    print(f"inversion MSE: encoder {inv['mse_encoder']:.4f}, mean image {inv['mse_mean_image']:.4f}")
    if args.grid:
        from PIL import Image

        tiles = ours.sample(64, random_state=0).reshape(8, 8, 28, 28).transpose(0, 2, 1, 3).reshape(224, 224)
        Image.fromarray((np.clip(tiles, 0, 1) * 255).astype(np.uint8)).resize((448, 448)).save(args.grid)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
