"""The self-contained report of a run: one ``report.html`` with everything inlined (images as data
URIs, the map's JavaScript in the page), readable offline and without any external request.

Sections, in reading order: the verdict box and the headline numbers; the map (:mod:`.mapview`);
what the decoder makes of latents (:mod:`.decoded`: reconstructions, samples, interpolation) and
traversals of the most important directions for several items (:mod:`.directions`); the named
directions and the decoder's sensitivity (:mod:`.interpretview`, from interpret.json); nearest
neighbours and the metadata as real items (:mod:`.realitems`); the report card by family and the
training curves (:mod:`.cardview`); the configuration, folded (:mod:`.page`).

A run whose model has no decoder (imported vectors; an imported encoder alone) gets no decoded
figures: one line says which are left out and why.
"""

from __future__ import annotations

import numpy as np

from ..progress import report
from .cardview import card_html, curves_caption, curves_png, headline_html
from .colors import label_colors, sprite, value_colors
from .decoded import Items, interpolation, reconstructions, samples, skipped_section, why_not_decoded
from .directions import traversal_section
from .interpretview import interpret_section, load, sensitivity_section
from .mapview import map_section, stored_map3d
from .page import config_section, esc, figure, img, page, verdicts_html
from .realitems import metadata_section, neighbours_section

REPORT_FILE = "report.html"
MAX_MAP_POINTS = 5000
STEPS = 7  # progress steps

__all__ = ["REPORT_FILE", "build_report", "label_colors", "sprite", "value_colors", "write_report"]


# the names tests and older callers use for two of the page's pieces
_card_html = card_html
_verdicts_html = verdicts_html


def build_report(run, *, max_points: int = MAX_MAP_POINTS, seed: int = 0) -> str:
    """The report of ``run`` as one HTML string."""
    from ..interpret.verdicts import from_run
    from ..maps.store import best_map
    from ..runfolder.items import RunItems

    model = run.load_model()
    data = run.load_dataset()
    Z = run.latent_matrix()
    table = run.latents()
    test = (
        np.asarray(table["split"].to_numpy(zero_copy_only=False)) == "test"
        if "split" in table.column_names
        else np.zeros(len(Z), bool)
    )
    pool = np.flatnonzero(test) if test.any() else np.arange(len(Z))
    rng = np.random.default_rng(seed)
    items = Items(data)
    seen = RunItems(run, data)  # what a person sees for a row: the same as in the explorer
    skipped = why_not_decoded(run, model)
    has_decoder = "Samples" not in skipped
    interp = load(run)
    report("report", 0, STEPS)
    sections = []

    lm, map_note = best_map(run, 2, seed=seed)
    if lm is not None:
        reconstructs = "Originals and reconstructions" not in skipped
        lm3 = stored_map3d(run)  # a 3-D map, when the run holds one, is shown below the 2-D one
        sections.append(map_section(run, lm, map_note, data, model, seen, rng, max_points, reconstructs, lm3))
    report("report", 1, STEPS)

    if "Originals and reconstructions" not in skipped:
        sections.append(reconstructions(model, data, Z, pool, rng, items))
    if has_decoder:
        sections.append(traversal_section(run, model, data, Z, pool, rng, items, interp))
        sections.append(samples(model, seed, items))
    report("report", 2, STEPS)
    if "Interpolation" not in skipped:
        sections.append(interpolation(run, model, data, Z, pool, items))
    if skipped:
        sections.append(skipped_section(skipped))
    report("report", 3, STEPS)
    sections.append(interpret_section(run, model, data, Z, items, interp, has_decoder))
    sections.append(sensitivity_section(model, Z, items, interp, has_decoder, run.model_name))
    report("report", 4, STEPS)
    sections.append(neighbours_section(seen, Z, pool, data.y, rng))
    if seen.metadata_columns():
        sections.append(metadata_section(run))
    report("report", 5, STEPS)

    sections.append(
        figure(
            "Report card",
            "The metrics of `latentspace evaluate`, computed the same way for every model, by family:"
            " ↑ higher is better, ↓ lower is better; settings are listed under each family. "
            "`latentspace compare` lines several runs up.",
            card_html(run.read_json("metrics.json"), run.model_name, from_run(run)),
            "card",
        )
    )
    history = run.read_json("history.json")
    curves = curves_png(history) if history else None
    sections.append(
        figure(
            "Training curves",
            curves_caption(history) if curves else "",
            img(curves, "training curves")
            if curves
            else f"<p class='absent'>{esc(run.model_name)} has no training epochs.</p>",
            "curves",
        )
    )
    sections.append(config_section(run.config))
    report("report", 6, STEPS)
    lead = headline_html(run.read_json("metrics.json"), run.model_name)
    out = page(run, data, Z, sections, model=model, lead=lead)
    report("report", STEPS, STEPS)
    return out


def write_report(run, **kw) -> str:
    """Build the report and save it in the run as report.html (atomically, checksum recorded)."""
    page_text = build_report(run, **kw)
    run.write_file(REPORT_FILE, page_text.encode())
    return str(run.path / REPORT_FILE)
