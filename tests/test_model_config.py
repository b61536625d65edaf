"""The neural models' parameters are declared once (models/config.py): constructors, rules,
docstrings and the training engine's settings all come from the one table."""

import dataclasses
import inspect

import pytest
from sklearn.base import clone

import latentspace as ls
from latentspace.errors import InputError
from latentspace.models.config import NEURAL, Param, ParamTable, setting
from latentspace.models.params import Real
from latentspace.models.vae import VAE
from latentspace.train import TrainSettings
from latentspace.train.engine import Trainer

SHARED = {
    "latent_dim": 16,
    "arch": "auto",
    "hidden": (512,),
    "channels": (32, 64, 64),
    "likelihood": "auto",
    "epochs": 30,
    "min_steps": 0,
    "batch_size": 128,
    "lr": 1e-3,
    "weight_decay": 0.0,
    "val_fraction": 0.1,
    "patience": None,
    "lr_schedule": "constant",
    "grad_clip": None,
    "device": "auto",
    "threads": None,
    "sample_shape": None,
    "random_state": None,
    "scale": "none",
}
# every family's defaults as its hand-written constructor had them
DEFAULTS = {
    "ae": SHARED,
    "dae": {**SHARED, "noise": "gaussian", "noise_level": 0.3},
    "vae": {**SHARED, "kl_warmup": 0.0},
    "beta_vae": {**SHARED, "kl_warmup": 0.0, "beta": 4.0, "capacity_max": None, "capacity_epochs": None},
    "gan": {
        **SHARED,
        "hidden": (512, 256),
        "channels": (32, 64),
        "lr": 2e-4,
        "batch_size": 64,
        "epochs": 5,
        "encoder_epochs": 10,
        "refine_steps": 0,
    },
}


@pytest.mark.parametrize("name", sorted(DEFAULTS))
def test_each_family_keeps_its_parameters_and_defaults(name):
    cls = ls.get_model_class(name)
    params = cls().get_params()
    assert params == DEFAULTS[name]
    assert list(params) == sorted(params)  # scikit-learn's order, stable
    assert set(cls._param_rules) == set(params)
    sig = inspect.signature(cls)
    assert next(iter(sig.parameters)) == "latent_dim"  # the one positional parameter
    assert all(p.kind is p.KEYWORD_ONLY for p in list(sig.parameters.values())[1:])
    for p in cls.param_table:
        assert f"    {p.name} : " in cls.__doc__, p.name


def test_constructor_stores_its_arguments_and_refuses_others():
    m = VAE(4, kl_warmup=2.0, hidden=[8])
    assert (m.latent_dim, m.kl_warmup, m.hidden, m.epochs) == (4, 2.0, [8], 30)
    with pytest.raises(TypeError, match="VAE\\(\\): got an unexpected keyword argument 'beta'"):
        VAE(beta=2.0)
    with pytest.raises(TypeError, match="too many positional arguments"):
        VAE(4, 2.0)


def test_training_options_reach_the_engine(digits, monkeypatch):
    """Every row made with ``setting`` is a TrainSettings field handed over under its name, and
    every TrainSettings option has such a row."""
    run_fields = {"seed", "device", "checkpoint_dir", "resume"}  # set by fit, not parameters
    options = {f.name for f in dataclasses.fields(TrainSettings)} - run_fields
    assert {p.name for p in NEURAL if p.setting} == options
    for p in NEURAL:
        if p.setting:
            assert p.default == TrainSettings.__dataclass_fields__[p.name].default, p.name
    seen = {}

    def capture(self, X):
        seen["s"] = self.s
        return []

    monkeypatch.setattr(Trainer, "fit", capture)
    monkeypatch.setattr(VAE, "_after_fit", lambda self, X: None)
    values = dict(epochs=7, batch_size=33, lr=0.02, weight_decay=0.1, val_fraction=0.2, patience=3)
    values.update(lr_schedule="cosine", grad_clip=1.5)
    VAE(3, random_state=4, device="cpu", **values).fit(digits.X)
    assert {k: getattr(seen["s"], k) for k in values} == values
    assert seen["s"].seed == 4 and seen["s"].device.type == "cpu"


def test_a_new_family_is_one_table():
    class Tempered(VAE):
        """A VAE with a temperature."""

        param_table = VAE.param_table.extend(Param("temperature", 1.0, Real(0, low_open=True), "Heat."))

    m = Tempered(3, temperature=0.5, epochs=2)
    assert m.get_params()["temperature"] == 0.5 and m.get_params()["kl_warmup"] == 0.0
    assert clone(m).get_params() == m.get_params()
    assert repr(m) == "Tempered(epochs=2, latent_dim=3, temperature=0.5)"
    assert "temperature : float in (0, inf), default=1.0\n        Heat." in Tempered.__doc__
    with pytest.raises(
        InputError, match=r"Tempered: parameter temperature must be a finite number in \(0, inf\); got 0"
    ):
        Tempered(temperature=0).fit([[0.0, 1.0], [1.0, 0.0]])


def test_a_subclass_without_a_table_keeps_its_parents():
    class Mine(VAE):
        pass

    assert Mine().get_params() == VAE().get_params()
    assert Mine._param_rules is VAE._param_rules


def test_table_mistakes_are_caught_when_declared():
    with pytest.raises(TypeError, match="declared twice: lr"):
        NEURAL.extend(Param("lr", 0.1, Real(0), "again"))
    with pytest.raises(TypeError, match="TrainSettings has no field 'momentum'"):
        setting("momentum", Real(0), "not an engine option")
    with pytest.raises(TypeError, match="no parameter bogus"):
        NEURAL.with_defaults(bogus=1)
    assert isinstance(NEURAL.with_defaults(lr=0.5), ParamTable) and NEURAL["lr"].default == 1e-3
