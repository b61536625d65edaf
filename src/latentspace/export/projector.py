"""The TensorBoard Embedding Projector's files, in one folder:

``tensors.tsv``        one row per item, the k latent values separated by tabs, no header
``metadata.tsv``       one row per item; with a single column no header row, with several a
                       header row first (the projector's rule); tabs and line breaks in values
                       become spaces
``sprite.png``         image data only: the items' pictures in a square grid, row-major from the
                       top left, each ``single_image_dim`` pixels; at most 8192 x 8192 pixels in
                       all (the projector's limit), so pictures are shrunk for large runs
``projector_config.pbtxt``   for TensorBoard (a log folder holding it shows the projector tab)
``projector_config.json``    for the standalone projector (projector.tensorflow.org), the same
                       fields in its camel-case form (``sprite.singleImageDim``)
"""

from __future__ import annotations

import io
import json
import math
from pathlib import Path

import numpy as np

from ..progress import report
from .items import Exported, pictures

SPRITE_MAX = 8192  # pixels a side of the whole sprite image
TENSORS, METADATA, SPRITE = "tensors.tsv", "metadata.tsv", "sprite.png"


def _cell(v) -> str:
    if v is None:
        return ""
    if isinstance(v, float) and not math.isfinite(v):
        return ""
    return " ".join(str(v).replace("\t", " ").split("\n")).replace("\r", " ")


def tensors_tsv(Z: np.ndarray) -> bytes:
    buf = io.StringIO()
    np.savetxt(buf, Z, fmt="%.7g", delimiter="\t")
    return buf.getvalue().encode()


def metadata_tsv(columns) -> bytes | None:
    """The metadata file (None when the run has no per-item columns besides ``row``)."""
    names = [c for c in columns.column_names if c != "row"] or ["row"]
    rows = [columns[c].to_pylist() for c in names]
    lines = ["\t".join(_cell(c) for c in names)] if len(names) > 1 else []
    lines += ["\t".join(_cell(col[i]) for col in rows) for i in range(columns.num_rows)]
    return ("\n".join(lines) + "\n").encode()


def sprite_png(items, n: int) -> tuple[bytes, tuple[int, int]]:
    """The items' pictures in a ``ceil(sqrt(n))``-square grid and the size of one cell (w, h)."""
    from PIL import Image

    first = items.pixels([0])[0]
    h, w = first.shape[:2]
    side = math.ceil(math.sqrt(n))
    scale = min(1.0, SPRITE_MAX / (side * max(h, w)))
    cw, ch = max(1, int(w * scale)), max(1, int(h * scale))
    mode = "L" if first.shape[2] == 1 else "RGB"
    sheet = Image.new(mode, (side * cw, side * ch))
    for a in range(0, n, 1024):
        for j, px in enumerate(items.pixels(range(a, min(a + 1024, n)))):
            i = a + j
            im = Image.fromarray(px[:, :, 0] if mode == "L" else px)
            if (cw, ch) != (w, h):
                im = im.resize((cw, ch), Image.Resampling.BOX)
            sheet.paste(im, ((i % side) * cw, (i // side) * ch))
        report("drawing the sprite", min(a + 1024, n), n)
    buf = io.BytesIO()
    sheet.save(buf, format="PNG")
    return buf.getvalue(), (cw, ch)


def config_pbtxt(name: str, sprite_dim: tuple[int, int] | None, metadata: bool) -> str:
    lines = ["embeddings {", f"  tensor_name: {json.dumps(name)}", f'  tensor_path: "{TENSORS}"']
    if metadata:
        lines.append(f'  metadata_path: "{METADATA}"')
    if sprite_dim is not None:
        lines += [
            "  sprite {",
            f'    image_path: "{SPRITE}"',
            f"    single_image_dim: {sprite_dim[0]}",
            f"    single_image_dim: {sprite_dim[1]}",
            "  }",
        ]
    return "\n".join(lines + ["}", ""])


def config_json(name: str, shape: tuple[int, int], sprite_dim, metadata: bool) -> str:
    entry: dict = {"tensorName": name, "tensorShape": list(shape), "tensorPath": TENSORS}
    if metadata:
        entry["metadataPath"] = METADATA
    if sprite_dim is not None:
        entry["sprite"] = {"imagePath": SPRITE, "singleImageDim": list(sprite_dim)}
    return json.dumps({"embeddings": [entry]}, indent=2) + "\n"


def write_projector(run, data: Exported, out: Path, overwrite: bool = False) -> dict:
    """Write the projector's files into the folder ``out``, each atomically; returns what to tell
    the user. Files of an earlier export that this one does not write (a sprite) are removed."""
    from ..atomic import atomic_write

    out.mkdir(parents=True, exist_ok=True)
    files = {TENSORS: tensors_tsv(data.Z)}
    meta = metadata_tsv(data.columns)
    files[METADATA] = meta
    items = pictures(run)
    dim = None
    if items is not None:
        files[SPRITE], dim = sprite_png(items, data.n)
    files["projector_config.pbtxt"] = config_pbtxt(data.name, dim, True).encode()
    files["projector_config.json"] = config_json(data.name, data.Z.shape, dim, True).encode()
    for name, body in files.items():
        atomic_write(out / name, body)
    if SPRITE not in files and overwrite:
        (out / SPRITE).unlink(missing_ok=True)
    return {
        "files": [out / name for name in files],
        "open": f"tensorboard --logdir {out} (the Projector tab), or load {out / TENSORS} and"
        f" {out / METADATA} at projector.tensorflow.org",
    }
