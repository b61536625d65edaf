"""The demo's stage timings and what it says while it works."""

import dataclasses

from latentspace.data.builtin import BUILTINS
from latentspace.stages.demo import demo


def test_demo_times_every_stage_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("LATENTSPACE_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(BUILTINS, "mnist", dataclasses.replace(BUILTINS["mnist"], available=lambda: False))
    news: list[str] = []
    result = demo(tmp_path / "runs", epochs=1, notify=news.append)
    stages = [
        "load",
        "fit pca",
        "fit vae",
        "evaluate digits-pca",
        "evaluate digits-vae",
        "map",
        "interpret",
        "reports",
    ]
    assert list(result.seconds) == [*stages, "total"]
    assert all(result.seconds[s] >= 0 for s in stages)
    assert sum(result.seconds[s] for s in stages) <= result.seconds["total"] + 1e-6
    assert news[-1].startswith("stage times: load ") and news[-1].endswith(
        f"total {result.seconds['total']:.0f} s"
    )
    # digits are small: the neighbourhood scores are exact, not sampled
    card = result.runs[1].read_json("metrics.json")["results"]
    assert "estimate" not in card["neighbourhood"]["values"]
    assert card["generation"]["values"]["fd_self"] > card["generation"]["values"]["fd_self_real_vs_real"]
    # both runs interpreted before their reports: the reports and the sliders use the names
    assert all("interpret.json" in r.config["files"] for r in result.runs)
    compare = (tmp_path / "runs" / "compare.html").read_text()
    assert "href='digits-pca/report.html'" in compare and "href='digits-vae/report.html'" in compare
