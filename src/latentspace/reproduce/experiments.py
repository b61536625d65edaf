"""The published results latentspace reproduces (``latentspace reproduce``, ``make reproduce``).

Each experiment is a seeded function of a :class:`Context` that returns an :class:`Experiment`: our
figures beside the published ones (or, where no publication measured the same thing, beside anchors
run here: ``Experiment.reference`` names the column), the source, the settings, and a sentence where
they differ. The ``quick`` variants use small subsets and a few epochs: they check that the code path
works and that the numbers are in a sane range (the test suite runs them), not that they match the
literature.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class Context:
    out: Path  # where figures go (results/)
    quick: bool = False
    seed: int = 0


@dataclass
class Row:
    quantity: str
    ours: float
    published: float | None = None  # the reference column: a published figure, or an anchor run here
    unit: str = ""
    spread: float | None = None  # standard deviation over seeds, when there are several

    def ours_text(self) -> str:
        text = _fmt(self.ours, self.unit)
        return text if self.spread is None else f"{text} ± {_fmt(self.spread, self.unit)}"


@dataclass
class Experiment:
    key: str
    title: str
    source: str
    settings: str
    rows: list[Row]
    notes: list[str] = field(default_factory=list)
    figures: list[Path] = field(default_factory=list)
    seconds: float = 0.0
    reference: str = "published"  # the heading of the column beside ours


def _fmt(v: float | None, unit: str) -> str:
    if v is None:
        return "—"
    if unit == "%":
        return f"{v:.2f}%"
    if unit == "nats":
        return f"{v:.2f}"
    return f"{v:.3f}"


def _mnist():
    import latentspace as ls

    ds = ls.load_data("mnist")
    train, test = ~ds.test_mask, ds.test_mask
    return ds, train, test


def _subset(ctx: Context, X: np.ndarray, y: np.ndarray, n: int):
    """The first n rows in quick mode (the data are already shuffled by class), else all."""
    return (X[:n], y[:n]) if ctx.quick else (X, y)


# --- 1. kNN classification on MNIST pixels and PCA features -------------------------------------
def knn_mnist(ctx: Context) -> Experiment:
    """LeCun et al.'s MNIST table: kNN (L2) on raw pixels 5.0%, 40 PCA + quadratic classifier 3.3%."""
    from sklearn.discriminant_analysis import QuadraticDiscriminantAnalysis

    import latentspace as ls
    from latentspace.metrics.probes import knn_probe

    ds, train, test = _mnist()
    Xtr, ytr = _subset(ctx, ds.X[train], ds.y[train], 6000)
    Xte, yte = _subset(ctx, ds.X[test], ds.y[test], 1000)
    rows = []
    for k in (1, 3):
        err = 100 * (1 - knn_probe(Xtr, ytr, Xte, yte, k=k))
        rows.append(Row(f"kNN (L2, k={k}) on raw pixels, test error", err, 5.0 if k == 3 else None, "%"))
    for c in (40, 50):
        pca = ls.PCA(c, random_state=ctx.seed).fit(Xtr)
        Ftr, Fte = pca.encode(Xtr), pca.encode(Xte)
        err = 100 * (1 - knn_probe(Ftr, ytr, Fte, yte, k=3))
        rows.append(Row(f"kNN (L2, k=3) on PCA-{c}, test error", err, None, "%"))
        if c == 40:
            qda = QuadraticDiscriminantAnalysis(reg_param=1e-3).fit(Ftr, ytr)
            err = 100 * (1 - qda.score(Fte, yte))
            rows.append(Row("PCA-40 + quadratic classifier (Gaussian per class), test error", err, 3.3, "%"))
    knn3, qda = rows[1].ours, rows[3].ours
    if knn3 < 5.0:
        first = (
            f"Exact kNN on the pixels gives {knn3:.2f}% at k = 3, below the table's 5.0%. The table's"
            " entry is LeCun et al.'s 1998 baseline; exact L2 kNN on the standard 60,000 / 10,000"
            " split is commonly reported near 3% (3.09% for k = 1), which is what we measure: the same"
            " classifier, with the published figure an older, weaker run of it."
        )
    else:
        first = f"Exact kNN on the pixels gives {knn3:.2f}% at k = 3, above the table's 5.0%" + (
            " (this run used a subset of the training digits)." if ctx.quick else "."
        )
    notes = [
        first,
        f"PCA-40 with a quadratic classifier gives {qda:.2f}% against the table's 3.3%. The"
        " classifier is one Gaussian per class with its own covariance on the 40 PCA coordinates"
        " (scikit-learn's QDA; a 1e-3 ridge keeps the covariances invertible), the classical"
        " reading of the table's 'quadratic classifier'; the original may have differed in"
        " preprocessing (LeCun's table lists deskewed variants separately) and regularisation.",
    ]
    return Experiment(
        "knn_mnist",
        "kNN classification on MNIST pixels and PCA features",
        "LeCun, Cortes & Burges, The MNIST database (table of classifiers); LeCun et al. 1998, Proc. IEEE",
        f"train {len(Xtr):,} / test {len(Xte):,} rows (LeCun's split), pixels in [0, 1), exact kNN"
        " (faiss, majority vote), PCA fitted on the training rows",
        rows,
        notes,
    )


# --- 2. t-SNE and UMAP maps of MNIST --------------------------------------------------------------
def maps_mnist(ctx: Context) -> Experiment:
    """Trustworthiness (against the pixels) and kNN accuracy of 2-D t-SNE and UMAP maps of MNIST,
    ours beside openTSNE's and umap-learn's own, run directly on the same input and scored alike."""
    import latentspace as ls
    from latentspace.knn import KnnGraph
    from latentspace.maps import fit_map

    ds, _, _ = _mnist()
    X, y = _subset(ctx, ds.X, ds.y, 3000)
    P = ls.PCA(50, random_state=ctx.seed).fit(X).encode(X)  # the usual input of both methods
    t0 = time.perf_counter()
    graph = KnnGraph.compute(P, 90)  # t-SNE's 3 x perplexity neighbours; UMAP takes the first 14
    times = {"graph": time.perf_counter() - t0}
    rows, figures = [], []
    for method, name in (("tsne", "t-SNE"), ("umap", "UMAP")):
        t0 = time.perf_counter()
        ours = fit_map(P, method, 2, seed=ctx.seed, graph=graph).embedding
        times[method] = time.perf_counter() - t0
        t0 = time.perf_counter()
        anchor = _anchor_map(method, P, ctx.seed)
        times[_ANCHORS[method]] = time.perf_counter() - t0
        t_ours, a_ours = _map_scores(X, P, ours, y, graph, method)
        t_anchor, a_anchor = _map_scores(X, P, anchor, y, graph, method)
        rows.append(Row(f"{name}: trustworthiness (k = 10) against the pixels", t_ours, t_anchor))
        rows.append(Row(f"{name}: 10-NN label accuracy on the map (leave one out)", a_ours, a_anchor))
        figures.append(_scatter(ctx.out / f"mnist-{method}.png", ours, y, f"MNIST, {name} (latentspace)"))
    tsne_v, umap_v = _version("openTSNE"), _version("umap-learn")
    notes = [
        "No publication we know of reports these two scores with these settings (trustworthiness at"
        f" k = 10 against the pixels of all {len(X):,} digits, leave-one-out 10-NN label accuracy on"
        " the map), so the reference column holds anchors measured in the same run instead: openTSNE"
        f" {tsne_v} (`openTSNE.TSNE()`) and umap-learn {umap_v} (`umap.UMAP()`), their defaults,"
        " called directly on the same 50-component PCA, scored by the same code as ours.",
        "Ours is latentspace's `fit_map`: t-SNE is openTSNE's optimiser on the neighbours of the"
        f" shared {'exact' if graph.exact else 'approximate'} kNN graph (openTSNE searches its own,"
        " approximately, from 1,000 points); UMAP is umap-learn's fuzzy graph and initialisation on"
        " the same graph, then latentspace's seeded parallel layout. Trustworthiness depends on k and"
        f" on the space it is measured against: here k = 10 and the raw pixels of all {len(X):,}"
        " digits, exactly (no subsample).",
        f"Fit times in this run: the shared kNN graph (90 neighbours) {times['graph']:.0f} s, then"
        f" t-SNE {times['tsne']:.0f} s and UMAP {times['umap']:.0f} s on it; openTSNE"
        f" {times['openTSNE']:.0f} s and umap-learn {times['umap-learn']:.0f} s with their own"
        " neighbour search (umap-learn runs on one thread when seeded).",
    ]
    return Experiment(
        "maps_mnist",
        "t-SNE and UMAP maps of MNIST",
        "No published figure for these settings; anchors measured here: openTSNE and umap-learn with"
        " their defaults, called directly on the same input",
        f"{len(X):,} digits; every map from a 50-component PCA, seed {ctx.seed}; t-SNE: perplexity 30,"
        f" openTSNE {tsne_v}'s defaults; UMAP: 15 neighbours, min_dist 0.1, umap-learn {umap_v}'s"
        " defaults; scores: exact, k = 10",
        rows,
        notes,
        figures,
        reference="openTSNE / umap-learn",
    )


_ANCHORS = {"tsne": "openTSNE", "umap": "umap-learn"}


def _anchor_map(method: str, P: np.ndarray, seed: int) -> np.ndarray:
    """The reference library's own map of ``P`` with its defaults (a seed, and openTSNE's threads)."""
    if method == "tsne":
        from openTSNE import TSNE

        from latentspace.maps.registry import threads

        return np.asarray(TSNE(random_state=seed, n_jobs=threads()).fit(P), dtype=np.float32)
    import warnings

    import umap

    with warnings.catch_warnings():  # "n_jobs overridden by random_state"
        warnings.simplefilter("ignore")
        return np.asarray(umap.UMAP(random_state=seed).fit_transform(P), dtype=np.float32)


def _map_scores(X, P, emb, y, graph, method: str) -> tuple[float, float]:
    """(trustworthiness at k = 10 against ``X``, leave-one-out 10-NN label accuracy on the map),
    the same code for every map: the map is wrapped as a LatentMap of ``P`` for map_quality."""
    from latentspace.maps import LatentMap, map_quality
    from latentspace.metrics.neighbourhood import neighbourhood_scores

    trust = neighbourhood_scores(X, emb, 10)["trustworthiness"]
    m = LatentMap(method, 2, {}, 0, emb, P, graph)
    return trust, map_quality(m, y, k=10)["knn_accuracy_map"]


def _version(package: str) -> str:
    from importlib.metadata import version

    return version(package)


def _scatter(path: Path, emb: np.ndarray, y: np.ndarray, title: str) -> Path:
    from latentspace.atomic import atomic_write
    from latentspace.report.figures import _mpl, _png

    plt = _mpl()
    fig, ax = plt.subplots(figsize=(6, 6))
    ax.scatter(emb[:, 0], emb[:, 1], c=y, cmap="tab10", s=0.3, linewidths=0, rasterized=True)
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    path.parent.mkdir(parents=True, exist_ok=True)
    return atomic_write(path, _png(fig))


# --- 3. VAE negative log-likelihood on binarised MNIST --------------------------------------------
def vae_nll(ctx: Context) -> Experiment:
    """NLL of a VAE on binarised MNIST, estimated with importance sampling (IWAE bound, k = 1000)."""
    import latentspace as ls

    ds, train, test = _mnist()
    rng = np.random.default_rng(ctx.seed)  # one fixed stochastic binarisation (pixel = P(black))
    Xb = (rng.random(ds.X.shape, dtype=np.float32) < ds.X).astype(np.float32)
    Xtr, Xte = Xb[train], Xb[test]
    if ctx.quick:
        Xtr, Xte = Xtr[:3000], Xte[:200]
    epochs = 3 if ctx.quick else 150
    k = 50 if ctx.quick else 1000  # 5,000 (the papers') takes 0.2 s per test digit here: 35 min
    vae = ls.create_model(
        "vae",
        latent_dim=50,
        arch="mlp",
        hidden=(200, 200),
        likelihood="bernoulli",
        epochs=epochs,
        batch_size=100,
        lr=1e-3,
        val_fraction=0.05,
        patience=None if ctx.quick else 15,
        random_state=ctx.seed,
    ).fit(Xtr)
    elbo = float(np.mean(vae.elbo(Xte, n_samples=1, random_state=ctx.seed)))
    nll = -float(np.mean(vae.log_likelihood(Xte, k=k, random_state=ctx.seed)))
    iwae50 = -float(np.mean(vae.log_likelihood(Xte, k=50, random_state=ctx.seed)))
    rows = [
        Row(f"VAE test NLL, importance-sampled (k = {k})", nll, 89.78, "nats"),
        Row("VAE test -ELBO (one posterior sample)", -elbo, None, "nats"),
        Row("VAE test IWAE bound with k = 50 (as a bound, of this VAE)", iwae50, None, "nats"),
    ]
    if not ctx.quick:  # how much k = 5000 would lower the estimate, on the first 200 test digits
        few = Xte[:200]
        at_k = -float(np.mean(vae.log_likelihood(few, k=k, random_state=ctx.seed)))
        at_5000 = -float(np.mean(vae.log_likelihood(few, k=5000, random_state=ctx.seed)))
        rows.append(
            Row(f"NLL with k = {k} minus with k = 5000, first 200 test digits", at_k - at_5000, None, "nats")
        )
    gap = nll - 89.78
    notes = [
        f"Our VAE is {gap:+.2f} nats from Pythae's 89.78 (the IWAE paper's VAE: 89.9, and 87.1 for a"
        " model trained with the IWAE objective, k = 50, which we do not train). The gap comes from"
        f" the training budget: {len(vae.history_)} epochs here against the thousands of epochs"
        " (3,280 passes, Burda et al.'s schedule) behind the published figures, ReLU instead of tanh"
        " units, and one fixed binarisation of the training set instead of a fresh one every epoch"
        " (which overfits sooner; early stopping on 5% of the training rows guards against it).",
        "The importance-sampled estimate is never below the ELBO and tightens as k grows; the"
        " papers use k = 5,000, we use k = 1,000 on all 10,000 test digits (5,000 samples cost 0.2 s"
        " per digit on this machine); the last row measures what that costs on 200 digits.",
    ]
    return Experiment(
        "vae_nll",
        "VAE negative log-likelihood on binarised MNIST",
        "Pythae 0.1.2 reproducibility table (VAE 89.78 nats, IWAE k=50 86.82); Burda, Grosse &"
        " Salakhutdinov 2016, Table 1 (VAE 89.9, IWAE 87.1 with 1 stochastic layer)",
        f"MNIST binarised once (pixel ~ Bernoulli(intensity), seed {ctx.seed}); {len(Xtr):,} train /"
        f" {len(Xte):,} test; MLP 784-200-200-50 (ReLU), Bernoulli decoder, batch 100, Adam 1e-3,"
        f" up to {epochs} epochs with early stopping on 5% of the training rows",
        rows,
        notes,
    )


# --- 4. Kingma & Welling's 2-D manifold -----------------------------------------------------------
def manifold_2d(ctx: Context) -> Experiment:
    """A VAE with a 2-d latent, decoded on a grid through the inverse Gaussian CDF (K&W 2014, Fig. 4)."""
    from scipy.stats import norm

    import latentspace as ls
    from latentspace.report.figures import write_figure

    ds, train, test = _mnist()
    Xtr, Xte = ds.X[train], ds.X[test]
    if ctx.quick:
        Xtr, Xte = Xtr[:3000], Xte[:300]
    vae = ls.create_model(
        "vae",
        latent_dim=2,
        arch="mlp",
        hidden=(512,),
        likelihood="bernoulli",
        epochs=2 if ctx.quick else 40,
        val_fraction=0.0,
        random_state=ctx.seed,
    ).fit(Xtr)
    side = 20
    q = norm.ppf(np.linspace(0.05, 0.95, side))  # equal probability mass between grid lines
    grid = np.stack(np.meshgrid(q, q[::-1]), -1).reshape(-1, 2).astype(np.float32)
    images = vae.decode(grid).reshape(side, side, -1)
    paths = write_figure(
        ctx.out / "vae-2d-manifold.png",
        images,
        sample_shape=ds.sample_shape,
        value_range=(0.0, 1.0),
        title="Learned MNIST manifold: a 2-d VAE decoded on a grid of Gaussian quantiles",
    )
    elbo = float(np.mean(vae.elbo(Xte, random_state=ctx.seed)))
    return Experiment(
        "manifold_2d",
        "The learned 2-D MNIST manifold (Kingma & Welling 2014, Figure 4b)",
        "Kingma & Welling 2014, Auto-Encoding Variational Bayes, Figure 4(b)",
        f"VAE, 2-d latent, MLP 784-512-2, Bernoulli decoder, {len(Xtr):,} training digits, seed"
        f" {ctx.seed}; grid: {side} x {side} points at the 5%..95% quantiles of N(0, 1) per axis",
        [Row("test ELBO of the 2-d VAE", elbo, None, "nats")],
        [
            "A qualitative result: the figure should show digits morphing smoothly into one another"
            " across the grid, every class present, as in the paper's Figure 4(b). The paper gives"
            " no number for this model beyond its training curves."
        ],
        paths,
    )


# --- 5. Disentanglement on shapes -----------------------------------------------------------------
def disentanglement_shapes(ctx: Context) -> Experiment:
    """MIG and DCI disentanglement of PCA, VAE and beta-VAE (beta 4, 8) on shapes over 3 seeds."""
    import latentspace as ls
    from latentspace.metrics.disentanglement import dci, mig

    seeds = [ctx.seed] if ctx.quick else [ctx.seed + s for s in range(3)]
    n = 2000 if ctx.quick else 20_000
    ds = ls.load_data("shapes", n=n, seed=0)
    X, F = ds.X, ds.factors
    models = [("PCA", "pca", {}), ("VAE (beta = 1)", "beta_vae", {"beta": 1.0})]
    models += [(f"beta-VAE (beta = {b})", "beta_vae", {"beta": float(b)}) for b in (4, 8)]
    rows = []
    results = {}
    for label, name, params in models:
        migs, dcis = [], []
        for s in seeds:
            if name == "pca":
                model = ls.PCA(10, random_state=s).fit(X)
            else:
                model = ls.create_model(
                    name,
                    latent_dim=10,
                    arch="mlp",
                    hidden=(512, 256),
                    epochs=2 if ctx.quick else 30,
                    val_fraction=0.0,
                    random_state=s,
                    **params,
                ).fit(X)
            Z = model.encode(X)
            migs.append(mig(Z, F)["mig"])
            dcis.append(dci(Z, F, seed=s)["dci_disentanglement"])
        results[label] = (np.mean(migs), np.mean(dcis))
        rows.append(Row(f"{label}: MIG", float(np.mean(migs)), None, "", _sd(migs)))
        rows.append(Row(f"{label}: DCI disentanglement", float(np.mean(dcis)), None, "", _sd(dcis)))
    vae_mig = results["VAE (beta = 1)"][0]
    best = max((b for b in (4, 8)), key=lambda b: results[f"beta-VAE (beta = {b})"][0])
    best_mig = results[f"beta-VAE (beta = {best})"][0]
    verdict = "above" if best_mig > vae_mig else "not above"
    notes = [
        f"The best beta-VAE (beta = {best}) has mean MIG {best_mig:.3f}, {verdict} the plain VAE's"
        f" {vae_mig:.3f}. Locatello et al. (2019) find the same ordering on dSprites only on average,"
        " with a spread across random seeds that is often as large as the differences between"
        " methods; the ± figures are the standard deviation over our seeds.",
        "Our shapes are a dSprites-like set generated here (32 x 32 pixels, five factors: shape,"
        " scale, rotation, x, y), not dSprites itself (64 x 64, 737,280 images), so absolute values"
        " are not comparable with the paper's plots; the comparison is between methods.",
    ]
    return Experiment(
        "disentanglement_shapes",
        "Disentanglement on shapes: PCA, VAE, beta-VAE",
        "Locatello et al. 2019, Challenging Common Assumptions in the Unsupervised Learning of"
        " Disentangled Representations (ICML), dSprites results",
        f"shapes, {n:,} images 32 x 32; latent size 10; VAEs: MLP 1024-512-256-10, Bernoulli"
        f" decoder, {2 if ctx.quick else 30} epochs; seeds {seeds}; MIG with 20-bin histograms, DCI"
        " from random-forest importances (latentspace.metrics.disentanglement)",
        rows,
        notes,
    )


def _sd(values: list[float]) -> float | None:
    return float(np.std(values, ddof=1)) if len(values) > 1 else None


# --- 6. Linear probes and kNN on MNIST latents ----------------------------------------------------
def probes_mnist(ctx: Context) -> Experiment:
    """Linear-probe and kNN accuracy of PCA, AE, VAE and beta-VAE latents (16-d), beside pixels."""
    import latentspace as ls
    from latentspace.metrics.probes import knn_probe, linear_probe

    ds, train, test = _mnist()
    Xtr, ytr = _subset(ctx, ds.X[train], ds.y[train], 3000)
    Xte, yte = _subset(ctx, ds.X[test], ds.y[test], 500)
    epochs = 2 if ctx.quick else 20
    rows = [
        Row("raw pixels (784-d): linear probe accuracy", linear_probe(Xtr, ytr, Xte, yte, ctx.seed)),
        Row("raw pixels (784-d): 5-NN accuracy", knn_probe(Xtr, ytr, Xte, yte, 5)),
    ]
    specs = [("PCA", "pca", {}), ("AE", "ae", {}), ("VAE", "vae", {})]
    specs.append(("beta-VAE (beta = 4)", "beta_vae", {"beta": 4.0}))
    for label, name, params in specs:
        if name == "pca":
            model = ls.PCA(16, random_state=ctx.seed).fit(Xtr)
        else:
            model = ls.create_model(
                name,
                latent_dim=16,
                arch="mlp",
                hidden=(512,),
                epochs=epochs,
                val_fraction=0.0,
                random_state=ctx.seed,
                **params,
            ).fit(Xtr)
        Ftr, Fte = model.encode(Xtr), model.encode(Xte)
        rows.append(Row(f"{label} (16-d): linear probe accuracy", linear_probe(Ftr, ytr, Fte, yte, ctx.seed)))
        rows.append(Row(f"{label} (16-d): 5-NN accuracy", knn_probe(Ftr, ytr, Fte, yte, 5)))
    return Experiment(
        "probes_mnist",
        "Linear probes and kNN on 16-d MNIST latents",
        "No single published table: a standard check of representation quality (e.g. the linear"
        " evaluation protocol of self-supervised learning); raw pixels as the reference",
        f"MNIST {len(Xtr):,} train / {len(Xte):,} test; latent size 16; neural models MLP 784-512-16,"
        f" {epochs} epochs, seed {ctx.seed}; linear probe: standardised features, logistic regression"
        " on at most 10,000 training rows; kNN: exact, k = 5",
        rows,
        [_probe_note(rows)],
    )


def _probe_note(rows: list[Row]) -> str:
    def ranked(word: str) -> list[tuple[float, str]]:
        return sorted(((r.ours, r.quantity.split(":")[0]) for r in rows if word in r.quantity), reverse=True)

    linear, knn = ranked("linear"), ranked("NN")
    order = ", ".join(f"{name} {acc:.3f}" for acc, name in linear)
    return (
        f"Linear probe, best first: {order}. 5-NN, best first: "
        + ", ".join(f"{name} {acc:.3f}" for acc, name in knn)
        + ". No published table fixes these numbers; they show how much label information each"
        " 16-d latent keeps and how linearly it is laid out, against the pixels themselves."
    )


EXPERIMENTS: dict[str, Callable[[Context], Experiment]] = {
    "knn_mnist": knn_mnist,
    "maps_mnist": maps_mnist,
    "vae_nll": vae_nll,
    "manifold_2d": manifold_2d,
    "disentanglement_shapes": disentanglement_shapes,
    "probes_mnist": probes_mnist,
}


def run(key: str, ctx: Context) -> Experiment:
    t0 = time.perf_counter()
    exp = EXPERIMENTS[key](ctx)
    exp.seconds = time.perf_counter() - t0
    return exp


__all__ = ["EXPERIMENTS", "Context", "Experiment", "Row", "run"]
