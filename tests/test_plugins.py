"""Model families from other packages (entry-point group ``latentspace.models``): real installed
distributions (a .dist-info folder on sys.path, as pip leaves one), a working plugin and broken ones."""

import importlib
import logging
import sys
import textwrap

import numpy as np
import pytest
from typer.testing import CliRunner

import latentspace as ls
from latentspace import ops
from latentspace.cli import app
from latentspace.errors import InputError
from latentspace.models import registry

PLUGIN = '''
import numpy as np
from latentspace.data.validate import check_array
from latentspace.models.base import LatentModel
from latentspace.models.params import Int


class Slice(LatentModel):
    """Tiny plugin: the first latent_dim features, centred."""

    _param_rules = {"latent_dim": Int(1), "random_state": Int(0, allow_none=True)}

    def __init__(self, latent_dim=2, random_state=None):
        self.latent_dim = latent_dim
        self.random_state = random_state

    def fit(self, X, y=None):
        self._validate_params()
        X = check_array(X)
        self.mean_, self.n_features_in_ = X.mean(axis=0), X.shape[1]
        return self

    def transform(self, X):
        X = self._check_input(X)
        return (X[:, : self.latent_dim] - self.mean_[: self.latent_dim]).astype(np.float32)

    def inverse_transform(self, Z):
        Z = self._check_latent(Z)
        out = np.tile(self.mean_, (len(Z), 1)).astype(np.float32)
        out[:, : self.latent_dim] += Z
        return out

    def _prior_sample(self, n, rng):
        return rng.standard_normal((n, self.latent_dim)).astype(np.float32)

    def _get_state(self):
        return {"mean": self.mean_}, {"n_features": self.n_features_in_}

    def _set_state(self, tensors, meta):
        self.mean_, self.n_features_in_ = tensors["mean"], int(meta["n_features"])
        return self


def helper():
    return 1
'''


def _distribution(site, name, entry_points: str, modules: dict[str, str]) -> None:
    for module, source in modules.items():
        (site / f"{module}.py").write_text(source)
    info = site / f"{name}-0.1.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[latentspace.models]\n" + textwrap.dedent(entry_points))


@pytest.fixture
def installed(tmp_path):
    """Two installed distributions: lsplug-good (slice: a model; helper: not one) and lsplug-bad
    (an import error, a module that does not exist, a built-in's name, slice again, no class)."""
    site = tmp_path / "site"
    site.mkdir()
    _distribution(
        site,
        "lsplug_good",
        "slice = lsplug_models:Slice\nhelper = lsplug_models:helper\n",
        {"lsplug_models": PLUGIN},
    )
    _distribution(
        site,
        "lsplug_bad",
        """\
        broken = lsplug_broken:Model
        missing = lsplug_nowhere:Model
        pca = lsplug_models:Slice
        slice = lsplug_models:Slice
        noclass = lsplug_models
        """,
        {"lsplug_broken": "import lsplug_dependency_that_is_not_installed\n"},
    )
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    registry.plugins(refresh=True)
    yield site
    sys.path.remove(str(site))
    for name in ("lsplug_models", "lsplug_broken"):
        sys.modules.pop(name, None)
    for name in ("slice", "helper"):
        registry._CLASSES.pop(name, None)
    importlib.invalidate_caches()
    registry.plugins(refresh=True)


def test_listing_imports_no_plugin(installed):
    names = ls.available_models()
    assert {"slice", "helper", "broken", "missing"} <= set(names) and "noclass" not in names
    assert names.count("pca") == 1 and "slice" in ls.available_models(kind="fit")
    assert "lsplug_models" not in sys.modules and "lsplug_broken" not in sys.modules
    assert registry.model_source("slice") == "lsplug_good" and registry.model_source("pca") == "latentspace"


def test_a_working_plugin_fits_saves_and_reloads(installed, digits, tmp_path):
    cls = ls.get_model_class("slice")
    assert cls.__name__ == "Slice" and cls.model_name == "slice" and "lsplug_models" in sys.modules
    run = ls.fit(digits, "slice", latent_dim=3, out=tmp_path / "run", test_fraction=0)
    assert run.config["model"]["name"] == "slice"
    model = ls.open_run(run.path).load_model()
    Z = model.encode(digits.X)
    np.testing.assert_allclose(Z, digits.X[:, :3] - digits.X.mean(0)[:3], atol=1e-6)
    np.testing.assert_array_equal(run.latent_matrix(), Z)
    assert ops.sample(model, 4, seed=0).X.shape == (4, 64)


@pytest.mark.parametrize(
    "name, match",
    [
        (
            "broken",
            r"^model plugin 'broken' from lsplug_bad \(lsplug_broken:Model\) cannot be loaded: ModuleNotFoundError: No module named 'lsplug_dependency_that_is_not_installed'$",
        ),
        (
            "missing",
            r"^model plugin 'missing' from lsplug_bad \(lsplug_nowhere:Model\) cannot be loaded: ModuleNotFoundError",
        ),
        (
            "helper",
            r"^model plugin 'helper' from lsplug_good \(lsplug_models:helper\) is not a latentspace model \(a subclass of latentspace\.models\.LatentModel\)$",
        ),
        (
            "noclass",
            r"^model plugin 'noclass' from lsplug_bad \(lsplug_models\) is ignored: must name its class as module:Class$",
        ),
    ],
)
def test_a_broken_plugin_is_named_and_the_rest_work(installed, name, match):
    with pytest.raises(InputError, match=match) as info:
        ls.create_model(name)
    assert "\n" not in str(info.value)
    assert ls.get_model_class("pca").__module__ == "latentspace.models.pca"
    assert ls.create_model("slice", latent_dim=2).latent_dim == 2
    with pytest.raises(InputError, match="models that can: dae, pca$"):  # the listing skips the broken
        ops.denoise(ls.create_model("slice"), np.zeros((1, 4)))


def test_name_clashes_are_never_loaded(installed, caplog):
    with caplog.at_level(logging.WARNING, logger="latentspace.models.registry"):
        found = registry.plugins(refresh=True)
    clashes = sorted(p.name for p in found.values() if p.problem and p.name in ("pca", "slice"))
    assert clashes == ["pca", "slice"]
    assert (
        "model plugin 'pca' from lsplug_bad (lsplug_models:Slice) is ignored: the name 'pca' is latentspace's own"
        in caplog.text
    )
    assert (
        "model plugin 'slice' from lsplug_bad (lsplug_models:Slice) is ignored: the name 'slice' is taken by lsplug_good"
        in caplog.text
    )
    assert ls.get_model_class("pca").__name__ == "PCA"
    assert registry.model_source("slice") == "lsplug_good"


def test_registering_a_built_in_name_is_refused():
    class Impostor(ls.PCA):
        pass

    with pytest.raises(
        InputError, match=r"^cannot register Impostor as 'pca': the name is latentspace's own"
    ):
        ls.register("pca")(Impostor)
    assert ls.get_model_class("pca") is ls.PCA


def test_cli_lists_packages_and_broken_plugins(installed, monkeypatch):
    monkeypatch.setenv("COLUMNS", "400")
    res = CliRunner().invoke(app, ["models"])
    assert res.exit_code == 0, res.output
    lines = {}
    for line in res.output.splitlines():
        if line.count("│") > 3 and line.split("│")[1].strip():
            lines.setdefault(line.split("│")[1].strip(), []).append(line)
    lines = {name: " ".join(rows) for name, rows in lines.items()}
    assert "latentspace" in lines["pca"] and "Principal component analysis" in lines["pca"]
    assert "lsplug_good" in lines["slice"] and "Tiny plugin: the first latent_dim features" in lines["slice"]
    assert "cannot be loaded: ModuleNotFoundError" in lines["broken"] and "lsplug_bad" in lines["broken"]
    assert "is not a latentspace model" in lines["helper"]
    assert "latentspace" in lines["onnx"] and "latentspace" in lines["wrapped"]
    assert "the name 'pca' is latentspace's own" in res.output  # the clash, on a row of its own
