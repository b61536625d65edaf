"""scikit-learn's estimator checks (``check_estimator``) on every registered model, with latent
sizes 1 and 2. Neural models train tiny networks for two epochs: the checks test conventions
(input validation, cloning, pickling, invariances), not quality.

A model's known failures are declared on its class (``expected_failed_checks``, with the reason)
and run as non-strict xfails. PCA, the autoencoder and the VAE are checked in the default suite
(about 15 s on two cores); dae, beta_vae and gan, which share their code, with ``make test-all``.
"""

import pytest
from sklearn.utils.estimator_checks import estimator_checks_generator, parametrize_with_checks

import latentspace as ls

TINY = dict(hidden=(8,), epochs=2, batch_size=16, threads=1)
TINY_EXTRA = {"gan": dict(encoder_epochs=1)}
DEFAULT_SUITE = {"ae", "pca", "vae"}


def tiny(name: str, latent_dim: int):
    model = ls.create_model(name, latent_dim=latent_dim)
    if "epochs" in model.get_params():
        model.set_params(**TINY, **TINY_EXTRA.get(name, {}))
    return model


def declared(estimator) -> dict[str, str]:
    return type(estimator).expected_failed_checks


FAST = [tiny(n, k) for n in sorted(DEFAULT_SUITE) for k in (1, 2)]
SLOW = [tiny(n, k) for n in ls.available_models(kind="fit") if n not in DEFAULT_SUITE for k in (1, 2)]


@parametrize_with_checks(FAST, expected_failed_checks=declared)
def test_sklearn_checks(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(SLOW, expected_failed_checks=declared)
def test_sklearn_checks_slow(estimator, check):
    check(estimator)


@pytest.mark.parametrize("name", ls.available_models(kind="fit"))
def test_declared_failures_are_few_and_name_real_checks(name):
    """At most one declared exception per model, each naming a check scikit-learn runs (a stale
    name, left after a fix or a rename, would hide nothing and is refused)."""
    model = tiny(name, 1)
    names = {getattr(c, "func", c).__name__ for _, c in estimator_checks_generator(model, mark=None)}
    exceptions = declared(model)
    assert len(exceptions) <= 1
    assert set(exceptions) <= names
