"""The steering commands of the CLI: figures written, numbers right, bad input refused."""

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import latentspace as ls
from latentspace.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "pca"
    ls.fit("digits", "pca", latent_dim=6, out=out)
    return out


@pytest.fixture(scope="module")
def roll_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "roll"
    ls.fit(ls.load_data("swissroll", n=400), "pca", latent_dim=2, out=out)
    return out


def png_size(path):
    with Image.open(path) as im:
        assert im.format == "PNG"
        return im.size


@pytest.mark.parametrize(
    "args",
    [
        ["sample", "-n", 16],
        ["reconstruct", "-n", 8],
        ["interpolate", "--from", 0, "--to", 9, "--steps", 6, "--method", "slerp"],
        ["traverse", "--item", 2, "--dims", "0-3", "--steps", 5],
        ["attribute", "--where", "label==3", "--vs", "label==8", "--item", 3, "--alphas", "-2:2:5"],
        ["neighbours", "--item", 4, "-k", 6],
    ],
)
def test_each_command_writes_a_png(digits_run, tmp_path, args):
    out = tmp_path / "fig.png"
    result = invoke(args[0], digits_run, *args[1:], "--out", out)
    assert result.exit_code == 0, result.output
    w, h = png_size(out)
    assert w > 200 and h > 80


def test_traverse_grid_has_one_row_per_dimension(digits_run, tmp_path):
    small, big = tmp_path / "a.png", tmp_path / "b.png"
    invoke("traverse", digits_run, "--item", 0, "--dims", "0-1", "--out", small)
    invoke("traverse", digits_run, "--item", 0, "--dims", "0-5", "--out", big)
    assert png_size(big)[1] > 2 * png_size(small)[1]


def test_vector_data_gets_line_plots_and_a_csv(roll_run, tmp_path):
    out = tmp_path / "strip.png"
    result = invoke("interpolate", roll_run, "--from", 0, "--to", 1, "--steps", 4, "--out", out)
    assert result.exit_code == 0, result.output
    lines = out.with_suffix(".csv").read_text().splitlines()
    assert lines[0] == "row,column,x,y,z" and len(lines) == 5
    run = ls.open_run(roll_run)
    Z = run.latent_matrix()
    first = np.array([float(v) for v in lines[1].split(",")[2:]])
    np.testing.assert_allclose(first, run.load_model().decode(Z[:1])[0], rtol=1e-4)


def test_neighbours_table(digits_run):
    result = invoke("neighbours", digits_run, "--item", 0, "-k", 3)
    assert result.exit_code == 0 and "3 nearest neighbours of #0 (0)" in result.output
    assert result.output.count("│ 1 ") + result.output.count("│ 2 ") + result.output.count("│ 3 ") >= 3


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["interpolate", "--from", 0, "--to", 5000],
            "item 5000 is out of range: this run's data has items 0..1796",
        ),
        (["interpolate", "--from", 0, "--to", 1, "--steps", 1], "steps must be at least 2"),
        (["traverse", "--item", 0, "--dims", "0-9"], "out of range: the latent has dimensions 0..5"),
        (["attribute", "--where", "label==42", "--item", 0], "'label==42' selects no rows"),
        (["attribute", "--where", "colour==3", "--item", 0], "unknown column 'colour'"),
        (
            ["attribute", "--where", "label==3", "--item", 0, "--alphas", "x"],
            "--alphas must be START:STOP:COUNT",
        ),
        (["sample", "-n", 0], "-n must be at least 1"),
    ],
)
def test_bad_input_is_one_line(digits_run, tmp_path, args, message):
    out = tmp_path / "x.png"
    result = invoke(args[0], digits_run, *args[1:], "--out", out)
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and message in " ".join(result.output.split())
    assert not out.exists()
