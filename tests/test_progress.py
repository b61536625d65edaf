"""Progress that reaches a log: plain lines with the step and an ETA when stdout is not a terminal."""

import re

from typer.testing import CliRunner

import latentspace.progress as progress
from latentspace.cli import app
from latentspace.progress import LineReporter, duration, progress_hook, report


class Clock:
    """A clock the test drives: each reading moves it on by ``step`` seconds."""

    def __init__(self, step: float = 0.0):
        self.t = 1000.0
        self.step = step

    def __call__(self) -> float:
        self.t += self.step
        return self.t


def seconds(text: str) -> int:
    """``"1h02m"`` / ``"1m15s"`` / ``"42s"`` -> seconds."""
    units = {"h": 3600, "m": 60, "s": 1}
    return sum(int(n) * units[u] for n, u in re.findall(r"(\d+)([hms])", text))


def test_duration():
    assert [duration(s) for s in (0, 42.4, 75.2, 3723)] == ["0s", "42s", "1m15s", "1h02m"]


def test_lines_every_interval_with_step_and_eta_then_the_end():
    clock, lines = Clock(), []
    rep = LineReporter(lines.append, interval=30, now=clock)
    rep("training", 0, 100, "")
    clock.t += 10
    rep("training", 10, 100, "loss 3")  # 10 s into the command: quiet
    assert lines == []
    clock.t += 20
    rep("training", 25, 100, "loss 2")  # 30 s: 25 steps in 30 s, 75 left -> 90 s
    assert lines == ["training: step 25/100 (25%), 30s spent, ETA 1m30s  loss 2"]
    clock.t += 29
    rep.tick()  # 29 s of silence: still quiet
    assert len(lines) == 1
    clock.t += 1
    rep.tick()  # 30 s without a report: the heartbeat repeats where the task stands
    assert lines[-1] == "training: step 25/100 (25%), 1m00s spent, ETA 3m00s  loss 2"
    clock.t += 60
    rep("training", 100, 100, "loss 1")
    assert lines[-1] == "training: done (100) in 2m00s  loss 1"
    clock.t += 100
    rep.tick()  # a finished task says nothing more
    assert len(lines) == 3


def test_heartbeat_speaks_of_the_outer_task_while_an_inner_one_is_done():
    clock, lines = Clock(), []
    rep = LineReporter(lines.append, interval=30, now=clock)
    rep("evaluate", 2, 4, "probes")
    rep("continuity", 0, 10)
    clock.t += 10
    rep("continuity", 10, 10)
    clock.t += 30
    rep.tick()
    assert lines[-1] == "evaluate: step 2/4 (50%), 40s spent, ETA 40s  probes"


def test_quick_tasks_say_nothing_and_a_slow_one_its_progress_and_end():
    clock, lines = Clock(), []
    rep = LineReporter(lines.append, interval=30, now=clock)
    for _ in range(3):  # a task run many times, quickly (decoding in batches)
        rep("decoding", 0, 4)
        rep("decoding", 4, 4)
    assert lines == []
    rep("decoding", 0, 4)
    clock.t += 40
    rep("decoding", 1, 4)
    clock.t += 5
    rep("decoding", 4, 4)
    assert lines == ["decoding: step 1/4 (25%), 40s spent, ETA 2m00s", "decoding: done (4) in 45s"]


def test_hook_receives_library_reports():
    clock, lines = Clock(step=31), []
    with progress_hook(LineReporter(lines.append, now=clock)):
        for i in range(1, 4):
            report("map", i, 3)
    assert lines[0].startswith("map: step 1/3 (33%), ")
    assert lines[-1].startswith("map: done (3) in ")


def test_cli_with_piped_stdout_writes_steps_and_eta(tmp_path, monkeypatch):
    """A fit through the CLI with its output captured (no terminal): every reading of the clock
    moves it 7 s on, so lines come every few reports; each gives the step and a finite ETA."""
    monkeypatch.setattr(progress, "clock", Clock(step=7.0))
    out = tmp_path / "vae"
    args = [
        "fit",
        "--data",
        "digits",
        "--model",
        "vae",
        "-p",
        "arch=mlp",
        "-p",
        "hidden=[32]",
        "-k",
        "2",
        "--epochs",
        "3",
        "--out",
        str(out),
    ]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    steps = [m for line in lines if (m := re.match(r"training: step ([\d,]+)/([\d,]+) .* ETA (\S+)", line))]
    assert len(steps) >= 2, result.output
    done, total = (int(s.replace(",", "")) for s in steps[-1].groups()[:2])
    assert 0 < done < total
    # the ETA is the time per step so far times the steps left (7 s per clock reading, >= 1 a step)
    assert seconds(steps[-1].group(3)) >= total - done
    assert any(re.match(r"training: done \([\d,]+\) in ", line) for line in lines)
    assert "\x1b[" not in result.output  # plain text, no terminal control codes
