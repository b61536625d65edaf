"""Reading a report card (the dict ``latentspace.stages.evaluate`` keeps in metrics.json): its
rows, which way each value is better, and several cards lined up for comparison. Pure functions;
the card is computed by the evaluate stage and drawn by the CLI and ``latentspace.report``."""

from __future__ import annotations

# how to read a value: +1 higher is better, -1 lower is better (rows not listed are not ranked)
_LOWER = (
    "mse",
    "bce",
    "bits_per_dim",
    "fd_self",
    "kd_self",
    "lipschitz",
    "path_ratio",
    "second_difference",
    "perturbation_relative",
)
_HIGHER = (
    "trustworthiness",
    "continuity",
    "knn_preservation",
    "probe_latent",
    "knn_latent",
    "mig",
    "dci_",
    "sap",
    "elbo_nats",
    "iwae_nats",
    "active_units",
)


def direction(key: str) -> int:
    if key.endswith(("_std", "_real_vs_real", "_raw", "_k", "_rows")) or key in ("n", "k", "samples"):
        return 0
    if any(s in key for s in _LOWER):
        return -1
    if any(s in key for s in _HIGHER):
        return 1
    return 0


def rows(card: dict, names: list[str] | None = None) -> list[tuple[str, str, object]]:
    """Flatten a card into (family, key, value) rows; skipped families give one row with the reason."""
    out = []
    for name in names or list(card["results"]):
        entry = card["results"].get(name)
        if entry is None:
            continue
        if "skipped" in entry:
            out.append((name, "skipped", entry["skipped"]))
            continue
        for key, value in entry["values"].items():
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                out.append((name, key, value))
    return out


def compare_table(runs, cards) -> tuple[list[str], list[list[object]], list[int | None]]:
    """Header, body rows (family, key, value per run) and the index of the best run per row."""
    keys: list[tuple[str, str]] = []
    for card in cards:
        for fam, key, _ in rows(card):
            if (fam, key) not in keys:
                keys.append((fam, key))
    values = [{(f, k): v for f, k, v in rows(card)} for card in cards]
    body, best = [], []
    for fam, key in keys:
        cells = [v.get((fam, key)) for v in values]
        body.append([fam, key, *cells])
        sign = direction(key)
        nums = [(i, x) for i, x in enumerate(cells) if isinstance(x, int | float)]
        best.append(max(nums, key=lambda t: sign * t[1])[0] if sign and len(nums) > 1 else None)
    return ["family", "metric", *[r.name for r in runs]], body, best


def fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)
