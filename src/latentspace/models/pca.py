"""Principal component analysis on the model contract, equal to scikit-learn's PCA.

The default solver streams the data once in row blocks and accumulates the covariance matrix
(float32 block products summed in float64), then takes the top eigenvectors. Memory is O(d^2) plus
one block whatever n is, so a memory-mapped ``.npy`` larger than RAM fits the same way.
Signs follow scikit-learn (the largest-magnitude entry of each component is positive), so
components, scores and explained variances agree with ``sklearn.decomposition.PCA`` to float
tolerance.

References
----------
Pearson (1901); Tipping & Bishop (1999), "Probabilistic principal component analysis" (``score``).
"""

from __future__ import annotations

import numpy as np
from scipy import linalg

from ..data.scaling import Scaling
from ..data.source import is_streamed
from ..data.validate import check_array
from ..errors import InputError
from ..progress import report
from .base import BATCH_ROWS, LatentModel, batched
from .params import Bool, Int, OneOf
from .registry import register


def _flip_signs(components: np.ndarray) -> np.ndarray:
    """Make the largest-|.| entry of every row positive (scikit-learn's ``svd_flip`` on V)."""
    idx = np.argmax(np.abs(components), axis=1)
    signs = np.sign(components[np.arange(len(components)), idx])
    signs[signs == 0] = 1.0
    return components * signs[:, None]


def _fit_randomized_streamed(X, k: int, n_iter: int, seed):
    """Randomized PCA of rows read block by block (Halko, Martinsson & Tropp 2011, Alg. 4.4, on the
    covariance): Q <- orth(C Q) for ``n_iter`` passes, C = X_c^T X_c, then the top k eigenpairs of
    Q^T C Q from one more pass. Each pass accumulates X^T (X Q) in float64 from float32 block
    products, centred afterwards by subtracting n m (m^T Q); memory is (d, k + 10), whatever n is.
    Returns (mean, eigenvalues (k,), components (k, d), total variance)."""
    n, d = X.shape
    width = min(k + 10, d)  # scikit-learn's n_oversamples
    Q = np.random.default_rng(seed).standard_normal((d, width))
    sums = np.zeros(d)
    sq = 0.0
    shift = np.asarray(X[:1024], dtype=np.float64).mean(axis=0)  # rows are centred near 0 as read
    shift32 = shift.astype(np.float32)
    for it in range(n_iter + 1):
        Q32 = Q.astype(np.float32)
        acc = np.zeros((d, width))
        for start in range(0, n, BATCH_ROWS):
            rows = np.asarray(X[start : start + BATCH_ROWS], dtype=np.float32) - shift32
            acc += rows.T @ (rows @ Q32)
            if it == 0:
                sums += rows.sum(axis=0, dtype=np.float64)
                sq += float(np.einsum("ij,ij->", rows, rows, dtype=np.float64))
            report("fitting PCA (randomized)", it * n + min(start + BATCH_ROWS, n), (n_iter + 1) * n)
        offset = sums / n  # mean of the shifted rows
        acc -= n * np.outer(offset, offset @ Q)  # = X_c^T X_c Q
        if it < n_iter:
            Q, _ = linalg.qr(acc, mode="economic")
    small = Q.T @ acc / (n - 1)  # (width, width): Q^T C Q
    evals, evecs = linalg.eigh((small + small.T) / 2)
    order = np.argsort(evals)[::-1][:k]
    total = (sq - n * float(offset @ offset)) / (n - 1)
    return offset + shift, np.clip(evals[order], 0.0, None), (Q @ evecs[:, order]).T, total


@register("pca")
class PCA(LatentModel):
    """Principal component analysis.

    Parameters
    ----------
    n_components : int, default=2
        Size of the latent space (``--latent-dim``); at most min(n_samples, n_features).
    whiten : bool, default=False
        Scale latents to unit variance.
    svd_solver : {"auto", "covariance_eigh", "full", "randomized"}, default="auto"
        "covariance_eigh" streams the data into a (d, d) covariance; "full" is an exact SVD of the
        centred data (in memory only); "randomized" is Halko et al.'s method (scikit-learn's
        ``randomized_svd`` for in-memory data; for data on disk a streamed subspace iteration that
        reads the rows block by block, ``n_iter + 1`` passes, and keeps only (d, k + 10) arrays).
        "auto" takes covariance_eigh when n_features <= 2048 and n_samples >= n_features,
        randomized when the latent is small against the data, full otherwise; for data on disk
        (memory maps, Parquet, image folders, Dask) covariance_eigh up to 8192 features, else the
        streamed randomized solver, so nothing ever loads the whole set.
    n_iter : int, default=7
        Power (subspace) iterations of the randomized solver; 7 is scikit-learn's choice for small
        latents.
    random_state : int or None, default=None
        Seed for the randomized solver and the default seed of :meth:`sample`.
    scale : {"none", "standard"}, default="none"
        "standard" finds the components of the standardised features (each feature's mean 0 and
        standard deviation 1 over the training rows: the correlation matrix's eigenvectors), so a
        feature of large units does not take the first components by its scale alone; encode,
        decode, samples and scores stay in the data's units. ``latentspace fit --scale auto`` picks
        it for tables whose feature scales differ.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
    mean_ : ndarray of shape (n_features,)
    explained_variance_, explained_variance_ratio_, singular_values_ : ndarray of shape (n_components,)
    noise_variance_ : float
        Mean of the discarded eigenvalues (probabilistic PCA's sigma^2).
    scaling_ : Scaling or None
        The standardisation (``scale="standard"``); ``components_``, ``mean_`` and the variances
        are then those of the standardised features.

    Examples
    --------
    >>> import numpy as np, latentspace as ls
    >>> X = np.random.default_rng(0).normal(size=(100, 5)).astype("float32")
    >>> ls.PCA(n_components=2).fit(X).encode(X).shape
    (100, 2)
    """

    latent_param = "n_components"
    _param_rules = {
        "n_components": Int(1),
        "whiten": Bool(),
        "svd_solver": OneOf("auto", "covariance_eigh", "full", "randomized"),
        "n_iter": Int(1),
        "random_state": Int(0, allow_none=True),
        "scale": OneOf("none", "standard"),
    }

    def __init__(
        self, n_components=2, *, whiten=False, svd_solver="auto", n_iter=7, random_state=None, scale="none"
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.n_iter = n_iter
        self.svd_solver = svd_solver
        self.random_state = random_state
        self.scale = scale

    @property
    def latent_dim(self) -> int:
        return int(getattr(self, "n_components_", self.n_components))

    # --- fitting --------------------------------------------------------------------------------
    def fit(self, X, y=None) -> PCA:
        """Learn the principal components of ``X`` (n_samples, n_features)."""
        self._validate_params()
        X = check_array(X, min_rows=2)
        n, d = X.shape
        k = self.n_components
        if k > min(n, d):
            raise InputError(
                f"PCA: latent_dim (n_components) = {k} is larger than allowed: at most"
                f" min(n_samples, n_features) = min({n}, {d}) = {min(n, d)}"
            )
        self.scaling_ = Scaling.fit(X) if self.scale == "standard" else None
        if self.scaling_ is not None:
            X = self.scaling_.apply(X)  # a standardised copy, or a view read block by block from disk
        streamed = is_streamed(X)
        solver = self._resolve_solver(n, d, k, streamed)
        if solver == "covariance_eigh":
            mean, evals, comps, total = self._fit_covariance(X, k)
        elif streamed and solver == "full":
            raise InputError(
                f"PCA: svd_solver='full' needs the data in memory, and X ({n:,} x {d:,}) is read from"
                " disk block by block; use svd_solver='covariance_eigh' (exact, one pass, d x d memory)"
                " or 'randomized' (streamed, n_iter + 1 passes)"
            )
        elif streamed:
            mean, evals, comps, total = _fit_randomized_streamed(X, k, self.n_iter, self.random_state)
        else:
            mean, evals, comps, total = self._fit_svd(X, k, solver)
        self.fit_solver_ = solver
        self.n_samples_, self.n_features_in_, self.n_components_ = n, d, k
        self.mean_ = mean.astype(np.float32)
        self.components_ = _flip_signs(comps).astype(np.float32)
        self.explained_variance_ = evals
        self.explained_variance_ratio_ = evals / total
        self.singular_values_ = np.sqrt(evals * (n - 1))
        rest = min(n, d) - k
        self.noise_variance_ = float(max(total - evals.sum(), 0.0) / rest) if rest > 0 else 0.0
        self.total_variance_ = float(total)
        return self

    def _resolve_solver(self, n: int, d: int, k: int, streamed: bool = False) -> str:
        if self.svd_solver != "auto":
            return self.svd_solver
        if streamed:  # never load the whole set: one pass into d x d, or a few passes into d x k
            return "covariance_eigh" if d <= 8192 else "randomized"
        if d <= 2048 and n >= d:
            return "covariance_eigh"
        if max(n, d) > 500 and k < 0.8 * min(n, d):
            return "randomized"
        return "full"

    @staticmethod
    def _fit_covariance(X: np.ndarray, k: int):
        """One streamed pass accumulating sums and X^T X; eigenvectors of the top k.

        The products run in float32 per block and add up in float64. When the first block's mean is
        large against its spread, blocks are shifted by that mean first, so that subtracting
        n * mean mean^T at the end cancels no significant digits; otherwise no copy is made.
        """
        n, d = X.shape
        first = np.asarray(X[:1024], dtype=np.float64)  # a small look decides whether to shift
        shift = first.mean(axis=0)
        spread = float(first.std(axis=0).max())
        shifted = float(np.abs(shift).max()) > 10.0 * max(spread, 1e-12)
        shift32 = shift.astype(np.float32) if shifted else None
        block = np.empty((min(BATCH_ROWS, n), d), dtype=np.float32) if shifted else None
        total = np.zeros(d)
        ones = np.ones(min(BATCH_ROWS, n), dtype=np.float32)
        gram = np.empty((d, d), dtype=np.float32)
        cov = np.zeros((d, d))
        for start in range(0, n, BATCH_ROWS):
            rows = np.asarray(X[start : start + BATCH_ROWS])
            if shifted:
                rows = np.subtract(rows, shift32, out=block[: len(rows)])
            total += ones[: len(rows)] @ rows  # column sums by BLAS gemv, added up in float64
            np.dot(rows.T, rows, out=gram)  # numpy takes the symmetric (syrk) path for a.T @ a
            cov += gram
            report("fitting PCA", min(start + BATCH_ROWS, n), n)
        offset = total / n  # mean of the (shifted) rows
        cov -= n * np.outer(offset, offset)
        cov /= n - 1
        mean = offset + (shift32.astype(np.float64) if shifted else 0.0)
        trace = float(np.trace(cov))
        evals, evecs = linalg.eigh(cov, subset_by_index=[d - k, d - 1], driver="evr")
        evals = np.clip(evals[::-1], 0.0, None)  # (k,), descending
        return mean, evals, evecs[:, ::-1].T, trace

    def _fit_svd(self, X: np.ndarray, k: int, solver: str):
        n = X.shape[0]
        mean = X.mean(axis=0, dtype=np.float64)
        centred = np.asarray(X, dtype=np.float64) - mean
        if solver == "full":
            _, s, vt = linalg.svd(centred, full_matrices=False)
        else:
            from sklearn.utils.extmath import randomized_svd

            _, s, vt = randomized_svd(centred, k, n_iter=self.n_iter, random_state=self.random_state)
        total = float(np.einsum("ij,ij->", centred, centred) / (n - 1))
        report("fitting PCA", n, n)
        return mean, (s[:k] ** 2) / (n - 1), vt[:k], total

    # --- the contract ---------------------------------------------------------------------------
    def transform(self, X) -> np.ndarray:
        """Project ``X`` (n, n_features) onto the components: (n, n_components)."""
        X = self._check_input(X)
        W = self.components_.T.astype(np.float64)  # (d, k)
        if self.whiten:
            W = W / np.sqrt(self.explained_variance_)
        offset = self.mean_ @ W  # (k,): X @ W - mean @ W needs no centred copy of X
        scaling = getattr(self, "scaling_", None)
        if scaling is not None:  # ((X - m) / s - mean) @ W = X @ (W / s) - (m / s) @ W - mean @ W
            s = scaling.std.astype(np.float64)
            offset = offset + (scaling.mean / s) @ W
            W = W / s[:, None]
        # Products in float64, rounded to float32 once: float32 BLAS kernels round a row differently
        # depending on where it falls in the block, so a row's code would depend on its neighbours.
        return batched(lambda b: b.astype(np.float64) @ W - offset, X, self.latent_dim, task="encoding")

    def inverse_transform(self, Z) -> np.ndarray:
        """Map latents (n, n_components) back to data space (n, n_features)."""
        Z = self._check_latent(Z)
        W = self.components_.astype(np.float64)  # (k, d)
        if self.whiten:
            W = W * np.sqrt(self.explained_variance_)[:, None]
        mean = self.mean_.astype(np.float64)  # float64 as in transform: rows independent of their block
        scaling = getattr(self, "scaling_", None)
        if scaling is not None:  # (Z @ W + mean) * s + m, in the data's units
            s = scaling.std.astype(np.float64)
            W, mean = W * s, mean * s + scaling.mean
        return batched(lambda b: b.astype(np.float64) @ W + mean, Z, self.n_features_in_, task="decoding")

    def _prior_sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """z ~ N(0, diag(explained_variance_)) in component space (N(0, I) when whitened)."""
        scale = 1.0 if self.whiten else np.sqrt(self.explained_variance_)
        return (rng.standard_normal((n, self.latent_dim)) * scale).astype(np.float32)

    def denoise(self, X) -> np.ndarray:
        """Project ``X`` onto the principal subspace: the classic PCA denoiser."""
        return self.decode(self.encode(X))

    def score_samples(self, X) -> np.ndarray:
        """Log-likelihood of each row under probabilistic PCA (Tipping & Bishop 1999), in nats."""
        X = self._check_input(X)
        prec, logdet = self._precision()
        d = self.n_features_in_
        scaling = getattr(self, "scaling_", None)
        # a density of standardised rows, read in the data's units: less the scaling's log-Jacobian
        jacobian = 0.0 if scaling is None else scaling.log_det

        def loglik(b):
            b = b if scaling is None else scaling.apply(b)
            c = b.astype(np.float64) - self.mean_
            quad = -0.5 * np.einsum("ij,ij->i", c @ prec, c)
            return (quad - 0.5 * (d * np.log(2 * np.pi) - logdet) - jacobian)[:, None]

        return batched(loglik, X, 1, task="scoring")[:, 0].astype(np.float64)

    def score(self, X, y=None) -> float:
        """Mean probabilistic-PCA log-likelihood of ``X`` (as scikit-learn's ``PCA.score``)."""
        return float(np.mean(self.score_samples(X)))

    def _precision(self) -> tuple[np.ndarray, float]:
        """Precision matrix of the PPCA covariance W^T diag(ev - s2) W + s2 I, and its log-det."""
        s2 = self.noise_variance_
        if s2 <= 0:
            raise InputError("PCA.score needs n_components < min(n_samples, n_features)")
        W = self.components_.astype(np.float64)
        ev = self.explained_variance_
        cov = (W.T * (ev - s2)) @ W + s2 * np.eye(self.n_features_in_)
        prec = linalg.inv(cov)
        logdet_cov = np.sum(np.log(ev)) + (self.n_features_in_ - self.n_components_) * np.log(s2)
        return prec, -logdet_cov

    def info(self) -> dict:
        return {
            **super().info(),
            "solver": self.fit_solver_,
            "explained_variance_ratio": [round(float(v), 6) for v in self.explained_variance_ratio_],
            "explained_variance_total": float(np.sum(self.explained_variance_ratio_)),
            "noise_variance": self.noise_variance_,
            "scale": "standard" if getattr(self, "scaling_", None) is not None else "none",
        }

    # --- persistence ----------------------------------------------------------------------------
    def _get_state(self):
        tensors = {
            "mean": self.mean_,
            "components": self.components_,
            "explained_variance": self.explained_variance_,
            "explained_variance_ratio": self.explained_variance_ratio_,
        }
        meta = {
            "n_samples": self.n_samples_,
            "n_features": self.n_features_in_,
            "noise_variance": self.noise_variance_,
            "total_variance": self.total_variance_,
            "solver": self.fit_solver_,
        }
        if getattr(self, "scaling_", None) is not None:
            tensors.update(self.scaling_.state())
        return tensors, meta

    def _set_state(self, tensors, meta):
        comps = np.asarray(tensors["components"], dtype=np.float32)
        k, d = comps.shape
        if k != self.n_components or tensors["mean"].shape != (d,):
            raise InputError(f"PCA state holds {k} components of {d}; config says {self.n_components}")
        self.components_, self.mean_ = comps, np.asarray(tensors["mean"], dtype=np.float32)
        self.explained_variance_ = np.asarray(tensors["explained_variance"], dtype=np.float64)
        self.explained_variance_ratio_ = np.asarray(tensors["explained_variance_ratio"], np.float64)
        self.n_samples_, self.n_features_in_, self.n_components_ = int(meta["n_samples"]), d, k
        self.singular_values_ = np.sqrt(self.explained_variance_ * (self.n_samples_ - 1))
        self.noise_variance_ = float(meta["noise_variance"])
        self.total_variance_ = float(meta["total_variance"])
        self.fit_solver_ = str(meta["solver"])
        self.scaling_ = Scaling.from_state(tensors, d, self.scale, "PCA")
        return self
