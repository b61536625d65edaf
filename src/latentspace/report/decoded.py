"""What the decoder makes of latents, in the report: reconstructions, samples and an interpolation,
drawn as image grids for images and as named feature tables (in the data's units) for tables; and,
for a run without a decoder, one line per figure it cannot show and why."""

from __future__ import annotations

import html

import numpy as np

from .page import esc, figure, img

DECODED_FIGURES = ("Originals and reconstructions", "Samples", "Latent traversal", "Interpolation")
TABLE_ITEMS = 5  # items in a table of reconstructions


class Items:
    """How decoded items are drawn for one dataset: image grids (PNG) or feature tables (HTML)."""

    def __init__(self, data):
        self.data = data
        self.range = data.value_range()
        self.is_image = bool(data.sample_shape is not None and len(data.sample_shape) == 3)
        d = data.X.shape[1]
        self.names = list(data.feature_names or [f"x{j}" for j in range(d)])
        rows = np.asarray(data.X[: min(len(data.X), 2000)], np.float64)
        self.std = np.where(rows.std(0) > 0, rows.std(0), 1.0)  # (d,) for the error shading

    def grid(self, items, **kw) -> bytes:
        from .figures import grid_figure

        return grid_figure(
            items,
            sample_shape=self.data.sample_shape,
            feature_names=self.data.feature_names,
            value_range=self.range,
            **kw,
        )

    def name(self, i: int) -> str:
        return self.data.item_name(i)

    def table(
        self, columns: list[tuple[str, np.ndarray]], *, against: np.ndarray | None = None, cls=""
    ) -> str:
        """A feature table: one row per feature (its name), one column per (header, values (d,)).
        With ``against`` (d,) each column's cells are shaded by their distance from it, in feature
        standard deviations (the reconstruction error made visible)."""
        head = "<tr><th>feature</th>" + "".join(f"<th>{esc(h)}</th>" for h, _ in columns) + "</tr>"
        body = []
        for j, name in enumerate(self.names):
            cells = []
            for _, v in columns:
                style = ""
                if against is not None and v is not against:
                    z = min(abs(float(v[j]) - float(against[j])) / self.std[j], 2.0)
                    if z > 0.1:
                        style = f" style='background:rgba(214,39,40,{0.45 * z / 2:.2f})'"
                cells.append(f"<td class='num'{style}>{_num(v[j])}</td>")
            body.append(f"<tr><th>{esc(name)}</th>{''.join(cells)}</tr>")
        return f"<div class='tablewrap'><table class='features {cls}'>{head}{''.join(body)}</table></div>"


def _num(x) -> str:
    x = float(x)
    return f"{x:.4g}" if abs(x) < 1e5 else f"{x:.3e}"


def why_not_decoded(run, model) -> dict[str, str]:
    """Which decoded figures this run cannot show, each with its reason (empty: it shows them all)."""
    if not getattr(model, "has_decoder", True):
        why = (
            "this run holds imported vectors and has no decoder"
            if run.model_name == "embeddings"
            else f"its model ({run.model_name}) has no decoder"
        )
        return {title: why for title in DECODED_FIGURES}
    if not run.has_source_data:
        return {
            "Originals and reconstructions": "the vectors came without their source data, so there is"
            " nothing to compare a reconstruction with"
        }
    return {}


def reconstruction_pngs(model, data, Z, show, items, tables: int = TABLE_ITEMS) -> tuple[bytes | str, float]:
    """Originals and reconstructions of rows ``show``: a PNG (images) or HTML tables (of the first
    ``tables`` rows), and the MSE over ``show``."""
    X = np.asarray(data.X[show])
    # a model without an encoder decodes the run's own latents (those of these very rows)
    R = model.decode(model.encode(X) if getattr(model, "has_encoder", True) else Z[show])
    mse = float(np.mean((R - X) ** 2))
    if not items.is_image:
        blocks = []
        for k, i in enumerate(show[:tables]):
            blocks.append(
                f"<div class='itemtable'><h4>{esc(items.name(int(i)))}</h4>"
                + items.table([("original", X[k]), ("reconstruction", R[k])], against=X[k])
                + "</div>"
            )
        return "<div class='tables'>" + "".join(blocks) + "</div>", mse
    png = items.grid(
        np.stack([X, R]),
        title=f"originals and reconstructions (MSE {mse:.4g})",
        row_labels=["original", "reconstruction"],
        col_labels=[items.name(int(i)) for i in show],
    )
    return png, mse


def reconstructions(model, data, Z, pool, rng, items) -> str:
    show = np.sort(rng.choice(pool, size=min(10, len(pool)), replace=False))
    out, mse = reconstruction_pngs(model, data, Z, show, items)
    body = img(out, "originals and reconstructions") if isinstance(out, bytes) else out
    how = (
        "(bottom)"
        if items.is_image
        else "beside each original, in the data's units; red cells are off by a large share of the"
        " feature's spread"
    )
    return figure(
        "Originals and reconstructions",
        f"Held-out items and what the model gives back after compressing them to {Z.shape[1]}"
        f" numbers {how} (MSE {mse:.4g} over these items): look for details that are lost or blurred.",
        body,
        "reconstructions",
    )


def samples_body(model, seed, items) -> str:
    if not items.is_image:
        S = model.sample(6, random_state=seed)
        return items.table([(f"sample {i + 1}", s) for i, s in enumerate(S)])
    S = model.sample(16, random_state=seed)
    return img(items.grid(S.reshape(2, 8, -1), title="samples decoded from the prior"), "samples")


def samples(model, seed, items) -> str:
    return figure(
        "Samples",
        "New items decoded from random latent vectors drawn from the model's prior (for PCA and "
        "the plain autoencoder, a Gaussian fitted to the training latents): do they look like data?",
        samples_body(model, seed, items),
        "samples",
    )


def interpolation(run, model, data, Z, pool, items) -> str:
    from .. import ops

    a = int(pool[0])
    others = pool[(data.y[pool] != data.y[a])] if data.y is not None else pool[1:]
    b = int(others[0]) if len(others) else int(pool[-1])
    method = "slerp" if run.model_name in ("vae", "beta_vae", "gan") else "lerp"
    steps = 10 if items.is_image else 6
    path = ops.interpolate(model, Z[a], Z[b], steps, method, space="latent")
    if items.is_image:
        body = img(
            items.grid(
                path.X[None],
                title=f"{method} from {items.name(a)} to {items.name(b)}",
                col_labels=[f"t={t:.2f}" for t in path.t],
                row_labels=[method],
            ),
            "interpolation strip",
        )
    else:
        body = items.table([(f"t={t:.2f}", x) for t, x in zip(path.t, path.X, strict=True)])
    return figure(
        "Interpolation",
        f"The decoded path from {items.name(a)} to {items.name(b)} ({method} between their latents):"
        " a smooth latent space gives plausible items all the way, a poor one blurs or jumps midway.",
        body,
        "interpolation",
    )


def skipped_section(skipped: dict[str, str]) -> str:
    lines = "".join(
        f"<li><b>{html.escape(title)}</b>: not shown: {html.escape(why)}.</li>"
        for title, why in skipped.items()
    )
    return figure(
        "Decoded figures",
        "Where a trained model would decode, this report shows real items instead: the map's tooltips"
        " and the nearest neighbours below (the explorer shows the real items nearest any point).",
        f"<ul class='skipped'>{lines}</ul>",
        "skipped",
    )
