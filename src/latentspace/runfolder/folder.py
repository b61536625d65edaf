"""The run folder: one directory per fitted model, in open formats, verified on every load.

::

    runs/<name>/
      config.json        schema version, model + parameters, dataset spec, split, seed, versions,
                         sha256 of every file below, and a sha256 of its own content
      model.safetensors  every learned tensor (no pickle)
      latents.parquet    row, z_0..z_{k-1}, split, label, factor_<name>

A run is written into a hidden temporary folder and renamed into place only when complete, so a
failure never leaves a partial run behind.
"""

from __future__ import annotations

import hashlib
import json
import logging
import platform
import re
import shutil
import struct
import uuid
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

import numpy as np

from ..atomic import atomic_write, atomic_write_json, atomic_write_parquet, fsync_dir, sha256_file
from ..errors import InputError, RunIntegrityError
from . import checks, tables
from .checks import CONFIG, LATENTS, MODEL, one_line
from .schema import parse_json, read_json_file, show

log = logging.getLogger(__name__)

SCHEMA_VERSION = 1
META_PREFIX = "meta_"  # metadata columns of latents.parquet: the user's column names behind it
_STATE_KEY = "latentspace_state"
_VERSIONED = ("latentspace", "numpy", "scikit-learn", "torch", "safetensors", "pyarrow")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for name in _VERSIONED:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _config_digest(config: dict) -> str:
    body = {k: v for k, v in config.items() if k != "config_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def check_destination(out: str | Path, overwrite: bool = False) -> Path:
    """Refuse to replace an existing folder unless ``overwrite``; call before any long work."""
    out = Path(out)
    if out.exists() and not overwrite:
        raise InputError(f"{out} already exists; choose another --out or pass --overwrite")
    if out.exists() and not (out / CONFIG).is_file() and any(out.iterdir()):
        raise InputError(f"{out} exists and is not a latentspace run; refusing to replace it")
    return out


# --- safetensors, read and written from bytes we have already checksummed ------------------------
def model_bytes(model) -> bytes:
    from safetensors.numpy import save

    tensors, meta = model._get_state()
    tensors = {k: np.ascontiguousarray(v) for k, v in tensors.items()}
    return save(tensors, metadata={_STATE_KEY: json.dumps(meta, sort_keys=True)})


def _read_safetensors(data: bytes, where: Path) -> tuple[dict[str, np.ndarray], object]:
    from safetensors.numpy import load

    try:  # safetensors checks the layout (header, offsets, sizes) before any tensor is made
        tensors = load(data)
        (header_len,) = struct.unpack("<Q", data[:8])
        header = parse_json(data[8 : 8 + header_len], where)
        meta = header.get("__metadata__", {}).get(_STATE_KEY, "{}")
    except RunIntegrityError:
        raise
    except Exception as exc:  # safetensors raises its own error types for malformed headers
        raise RunIntegrityError(f"{where} is not a readable safetensors file: {one_line(exc)}") from None
    if not isinstance(meta, str):
        raise RunIntegrityError(f"{where} is not a readable safetensors file: its metadata is not text")
    return tensors, parse_json(meta, f"{where} (its metadata)")


def latents_table(Z: np.ndarray, dataset, test_mask: np.ndarray | None, start: int = 0, metadata=None):
    """Arrow table of latents with row id, split, label, factors and metadata (``meta_<name>``, each
    in its own Arrow type); ``Z`` holds rows ``start:start + len(Z)`` of the dataset (so a large set
    can be written in pieces) and ``metadata`` (a pyarrow table) the same rows."""
    import pyarrow as pa

    stop = start + len(Z)
    cols = {"row": pa.array(np.arange(start, stop, dtype=np.int64))}
    for j in range(Z.shape[1]):
        cols[f"z_{j}"] = pa.array(Z[:, j])
    if test_mask is not None:
        cols["split"] = pa.array(np.where(test_mask[start:stop], "test", "train"))
    if dataset.y is not None:
        cols["label"] = pa.array(dataset.y[start:stop])
    if dataset.factors is not None:
        for j, name in enumerate(dataset.factor_names):
            cols[f"factor_{name}"] = pa.array(dataset.factors[start:stop, j])
    if metadata is not None:
        for name in metadata.column_names:
            cols[META_PREFIX + name] = metadata[name].combine_chunks()
    return pa.table(cols)


def save_run(
    out,
    model,
    dataset,
    *,
    seed: int,
    split: dict,
    test_mask,
    Z,
    overwrite=False,
    extra_files: dict[str, bytes] | None = None,
    checkpoints: Path | None = None,
    metadata=None,
    extra_config: dict | None = None,
) -> Run:
    """Write a complete run folder for a fitted ``model`` atomically and return it, verified.

    ``extra_files`` (name -> bytes, e.g. ``history.json``) are checksummed like the model, and so
    are the model's own files (an imported model's ONNX networks); ``checkpoints`` (a folder) is
    moved in as ``checkpoints/``. ``metadata`` (a pyarrow table, one row per item) joins the latents
    as ``meta_<name>`` columns; ``extra_config`` adds the ``metadata`` and ``items`` records.
    """
    model = model._for_saving()  # a wrapped torch module is saved as ONNX; Python code never is
    extra_files = {**(extra_files or {}), **model._get_files()}
    out = check_destination(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.partial-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        atomic_write(tmp / MODEL, model_bytes(model))
        atomic_write_parquet(tmp / LATENTS, latents_table(Z, dataset, test_mask, metadata=metadata))
        for name, data in extra_files.items():
            atomic_write(tmp / name, data)
        config = {
            "schema_version": SCHEMA_VERSION,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "model": {"name": model.model_name, "params": model.get_params(deep=False)},
            "latent_dim": int(model.latent_dim),
            "dataset": dataset.describe(),
            "split": split,
            "seed": seed,
            "versions": package_versions(),
            "info": model.info(),
            **(extra_config or {}),
            "files": {name: sha256_file(tmp / name) for name in (MODEL, LATENTS, *extra_files)},
        }
        config["config_sha256"] = _config_digest(config)
        atomic_write_json(tmp / CONFIG, config)
        if checkpoints is not None and checkpoints.is_dir():
            checkpoints.rename(tmp / "checkpoints")
        if out.exists():  # --overwrite: move the old run aside, swap the new one in, then delete
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
            tmp.rename(out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            tmp.rename(out)
        fsync_dir(out.parent)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return Run(out)


class Run:
    """A run folder, verified when opened: schema version, config checksum, file checksums.

    Parameters
    ----------
    path : str or Path
        The run folder (``runs/<name>``).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.config = self._read_config()
        self._verify_files()
        self._latents = None  # the latents table, read on first use

    def _read_config(self) -> dict:
        cfg = self.path / CONFIG
        if not self.path.is_dir():
            raise InputError(f"no run folder at {self.path}")
        if not cfg.is_file():
            raise RunIntegrityError(f"{self.path} is not a latentspace run: it has no {CONFIG}")
        config = read_json_file(cfg)
        if not isinstance(config, dict) or "schema_version" not in config:
            raise RunIntegrityError(f"{cfg} has no schema_version: not a latentspace run config")
        if config["schema_version"] != SCHEMA_VERSION:
            raise RunIntegrityError(
                f"{cfg} has schema version {show(config['schema_version'])}; this latentspace"
                f" reads version {SCHEMA_VERSION} (re-fit the run with this version)"
            )
        if config.get("config_sha256") != _config_digest(config):
            raise RunIntegrityError(
                f"{cfg} was changed after it was written (its checksum does not match);"
                " edit nothing in a run folder by hand: re-run `latentspace fit`"
            )
        return checks.check_config(config, cfg)

    def _file(self, name: str) -> Path:
        """The path of a file the config lists: a plain name, a regular file, inside the folder."""
        checks.check_file_name(name, self.path / CONFIG)
        p = self.path / name
        if p.is_symlink() and p.resolve().parent != self.path.resolve():
            raise RunIntegrityError(f"{p} is a link to a file outside the run folder; refusing to read it")
        if not p.is_file():
            what = "is missing" if not p.exists() else "is not a regular file"
            raise RunIntegrityError(f"{self.path} is incomplete: {name} {what}")
        return p

    def _verify_files(self) -> None:
        for name, digest in self.config["files"].items():
            p = self._file(name)
            if sha256_file(p) != digest:
                raise RunIntegrityError(
                    f"{p} does not match the checksum in {CONFIG} (truncated, edited or replaced)"
                )

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def model_name(self) -> str:
        return self.config["model"]["name"]

    def load_model(self):
        """Rebuild the fitted model from config parameters and ``model.safetensors``."""
        from ..models.registry import create_model, get_model_class

        p = self._file(MODEL)
        data = p.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.config["files"][MODEL]:
            raise RunIntegrityError(f"{p} changed since the run was opened")
        tensors, meta = _read_safetensors(data, p)
        try:
            cls = get_model_class(self.model_name)
        except InputError as exc:
            raise RunIntegrityError(
                f"{self.path / CONFIG}: model {self.model_name!r} cannot be rebuilt from its parameters:"
                f" {one_line(exc)}"
            ) from None
        # the bound on what rebuilding allocates: a family whose networks are files of their own
        # (checksummed, bounded in size by the family) keeps only a prior in model.safetensors
        checks.check_tensors(tensors, self.config, p, bounded=cls.has_encoder and not cls.state_files)
        checks.check_model_meta(meta, self.config, p, reads_data=cls.has_encoder)
        try:  # the parameters are checked by the model's own rules (and size bounds) here
            model = create_model(self.model_name, **self.config["model"]["params"])
        except (InputError, TypeError) as exc:
            raise RunIntegrityError(
                f"{self.path / CONFIG}: model {self.model_name!r} cannot be rebuilt from its parameters:"
                f" {one_line(exc)}"
            ) from None
        try:
            files = {name: self.read_file(name) for name in cls.state_files if name in self.config["files"]}
            if files:
                model._set_files(files)
            model._set_state(tensors, meta)
        except RuntimeError as exc:  # torch's load_state_dict: missing, unexpected or misshapen tensors
            raise RunIntegrityError(
                f"{p} does not hold a valid {self.model_name} state: {_state_problem(exc)}"
            ) from None
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise RunIntegrityError(
                f"{p} does not hold a valid {self.model_name} state: {one_line(exc)}"
            ) from None
        checks.check_model(model, self.config, p)
        return model

    def latents(self, *, vector: bool = False):
        """The latents as a pyarrow table, checked; read once, then kept.

        Columns: ``row`` (the item's id, 0..n-1), ``z_0 .. z_{k-1}`` (float32), then ``split``,
        ``label`` (integer codes; ``config["dataset"]["label_names"]`` names them), ``factor_<name>``
        and ``meta_<name>`` (imported metadata in its own Arrow type) where the run has them. One
        column per dimension is what pandas, polars and scikit-learn users index
        (``df.filter(like="z_")``); ``vector=True`` gives one ``vector`` column of fixed-size lists
        instead (k float32 per row: what Embedding Atlas, LanceDB or a Hugging Face dataset read).
        ``table.to_pandas()`` or ``polars.from_arrow(table)`` converts it in one call."""
        if vector:
            return tables.with_vector(self.latents(), self.config["latent_dim"])
        if self._latents is None:
            import pyarrow as pa
            import pyarrow.parquet as pq

            p = self._file(LATENTS)
            try:  # ParquetFile rather than read_table: no pyarrow.dataset import (0.1 s of a cheap command)
                with pq.ParquetFile(p) as f:
                    table = f.read()
            except (pa.ArrowException, OSError, ValueError) as exc:
                raise RunIntegrityError(f"{p} is not a readable Parquet file: {one_line(exc)}") from None
            checks.check_latents(table, self.config, p)
            self._latents = table
        return self._latents

    def latent_matrix(self) -> np.ndarray:
        """The latents as a float32 array of shape (n, latent_dim)."""
        table = self.latents()
        k = self.config["latent_dim"]
        return np.column_stack([table[f"z_{j}"].to_numpy() for j in range(k)]).astype(np.float32)

    @property
    def n_items(self) -> int:
        """Rows of the data the run was fitted on (every one has a latent)."""
        return int(self.config["dataset"]["n"])

    def item_name(self, i: int) -> str:
        """``#i (label)``, as :meth:`Dataset.item_name` names it, without loading the data."""
        from ..data.dataset import item_name

        n, i = self.n_items, int(i)
        if not 0 <= i < n:
            raise InputError(f"item {i} is out of range: {self.name} has items 0..{n - 1}")
        table = self.latents()
        label = table["label"][i].as_py() if "label" in table.column_names else None
        return item_name(i, label, self.config["dataset"].get("label_names"))

    def load_dataset(self):
        """Load the data the run was fitted on and check it is the same data (sha256)."""
        from ..data import from_spec

        desc = self.config["dataset"]
        if desc["spec"].get("own_latents"):
            return self._latents_dataset()
        n = desc["spec"].get("args", {}).get("n", desc["n"])
        if n != desc["n"]:  # a built-in's row count: checked before it is generated
            raise RunIntegrityError(
                f"{self.path / CONFIG}: dataset.spec asks for {show(n)} rows; dataset.n is {desc['n']}"
            )
        ds = from_spec(desc["spec"])
        if ds.fingerprint() != desc["sha256"] or (ds.n, ds.d) != (desc["n"], desc["d"]):
            raise RunIntegrityError(
                f"the data for {self.name} ({desc['spec']}) changed since the run was fitted"
            )
        if "label_col" in self.config:  # a label chosen from imported metadata replaces the data's own
            ds.y, ds.label_names = self.latents()["label"].to_numpy(), desc["label_names"]
        return ds

    @property
    def has_source_data(self) -> bool:
        """False for imported vectors given without the data they were computed from: the run's
        data are then its own latents (neighbourhood scores and raw-data probes do not apply)."""
        return not self.config["dataset"]["spec"].get("own_latents", False)

    def _latents_dataset(self):
        """The data of an embeddings run imported without its source: the vectors themselves, with
        the labels of the latents table."""
        from ..data import Dataset

        desc, table = self.config["dataset"], self.latents()
        y = table["label"].to_numpy() if "label" in table.column_names else None
        ds = Dataset(
            X=self.latent_matrix(),
            y=y,
            label_names=desc["label_names"],
            feature_names=desc["feature_names"],
            name=desc["name"],
            spec=desc["spec"],
        )
        if ds.fingerprint() != desc["sha256"]:
            raise RunIntegrityError(f"{self.path / CONFIG}: dataset.sha256 does not match the run's vectors")
        return ds

    def metadata(self):
        """The metadata columns kept with the latents (an Arrow table under the user's own column
        names; no columns for a run without metadata)."""
        table = self.latents()
        cols = [c for c in table.column_names if c.startswith(META_PREFIX)]
        return table.select(cols).rename_columns([c[len(META_PREFIX) :] for c in cols])

    def map(self, method: str = "umap", dims: int = 2):
        """A stored map as a pyarrow table: ``row``, ``x``, ``y`` (, ``z``), the map's per-point
        layers where stored (``distortion``, ``error``, ``sensitivity``: where to trust it), then the
        latents' ``split``, ``label``, ``factor_*`` and ``meta_*`` columns, one row per item in the
        order of :meth:`latents`. ``latentspace map RUN --method METHOD [--dims 3]`` makes one."""
        return tables.map_table(self, method, dims)

    def metrics(self):
        """The report card (metrics.json) in long form, one value a row, as a pyarrow table:
        ``family``, ``name``, ``value`` (float64; null for a text), ``text`` (a descriptive value,
        or a skipped family's reason under the name ``skipped``), ``direction`` ("higher" or
        "lower" is better; null for counts and settings) and ``params`` (the family's parameters,
        JSON). Lists of values (per-unit variances) are left out. Empty before ``evaluate``."""
        return tables.metrics_table(self)

    def write_file(self, name: str, data: bytes) -> Path:
        """Add or replace a derived file (metrics.json, a map, the report) and record its checksum.

        The file is written atomically, then the config with its new checksum. The run is
        re-verified first, so an altered run is never silently re-signed.
        """
        try:
            checks.check_file_name(name, "the name")
        except RunIntegrityError:
            raise InputError(f"cannot write {name!r} into a run: not a derived file name") from None
        if name in (MODEL, LATENTS):
            raise InputError(f"cannot write {name!r} into a run: not a derived file name")
        self._verify_files()
        path = atomic_write(self.path / name, data)
        config = dict(self.config)
        config["files"] = {**config["files"], name: sha256_file(path)}
        config["config_sha256"] = _config_digest(config)
        atomic_write_json(self.path / CONFIG, config)
        self.config = config
        return path

    def read_file(self, name: str) -> bytes:
        """The bytes of a file of the run, checked against its recorded checksum."""
        if name not in self.config["files"]:
            raise InputError(f"{self.name} has no {name}")
        p = self._file(name)
        data = p.read_bytes()
        if hashlib.sha256(data).hexdigest() != self.config["files"][name]:
            raise RunIntegrityError(f"{p} does not match the checksum in {CONFIG}")
        return data

    def read_json(self, name: str):
        """A verified JSON file of the run (size and depth bounded; metrics.json and history.json
        checked against their schema), or None when the run has none by that name."""
        if name not in self.config["files"]:
            return None
        where = self.path / name
        value = parse_json(self.read_file(name), where)
        if name in checks.JSON_SCHEMAS:
            checks.check(value, checks.JSON_SCHEMAS[name], where)
        return value

    def files(self) -> dict[str, int]:
        """Every file in the run with its size in bytes."""
        return {p.name: p.stat().st_size for p in sorted(self.path.iterdir()) if p.is_file()}

    def __repr__(self) -> str:
        return f"Run({str(self.path)!r}, model={self.model_name!r})"


_TORCH_STATE_PROBLEMS = (  # torch's load_state_dict message, one problem per line
    (re.compile(r'Missing key\(s\) in state_dict: "([^"]+)"'), "tensor {0} of its network is missing"),
    (re.compile(r'Unexpected key\(s\) in state_dict: "([^"]+)"'), "tensor {0} is not part of its network"),
    (
        re.compile(
            r"size mismatch for ([^:]+): copying a param with shape torch\.Size\((\[[^\]]*\])\) from"
            r" checkpoint, the shape in current model is torch\.Size\((\[[^\]]*\])\)"
        ),
        "tensor {0} of its network has shape {1}, expected {2}",
    ),
)


def _state_problem(exc: RuntimeError) -> str:
    """The first tensor torch's ``load_state_dict`` refused, in one line; else its message."""
    text = str(exc)
    found = [
        (m.start(), form.format(*m.groups())) for rx, form in _TORCH_STATE_PROBLEMS if (m := rx.search(text))
    ]
    return min(found)[1] if found else one_line(exc)


def open_run(path: str | Path) -> Run:
    """Open and verify a run folder."""
    return Run(path)
