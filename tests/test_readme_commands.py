"""Every ``autoembed ...`` command in a fenced code block of README.md and cluster/README.md runs
as written, so the documentation cannot rot.

Each command runs in order (a later one may use what an earlier one made, e.g. ``--resume``) in
a scratch folder that mirrors the repository (its files linked, ``results/`` copied), with only
these changes, so it stays seconds-long on 2 cores:

- ``$PWD`` is the scratch folder; ``/path/to/<name>`` and ``../shared/data/<name>`` are the real
  data folder (the command is skipped where that is absent, and where it needs s3:// or gs://);
- ``train`` on a real dataset whose data is absent uses tiny synthetic data instead, and every
  ``train`` gets a step cap (``--max-steps``);
- ``sweep SPEC`` and ``study`` get ``--smoke-test --quiet`` (``study`` also a scratch
  ``--storage-path``); these and the commands reading ``experiments/`` are marked slow.
A failure names the README line and shows the command as written and as run.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import PROJECT_ROOT, SHARED_DATA

READMES = ("README.md", "cluster/README.md")
REAL_DATASETS = {"ml-1m": "ml-1m", "criteo": "criteo", "avazu": "avazu"}
MAX_STEPS = "20"
SLOW = ("sweep", "study")  # start Ray: run with the slow tests


def is_slow(command: Command) -> bool:
    """Starts Ray, or reads what a sweep made (``experiments/``)."""
    return command.args[1] in SLOW or any("experiments" in a for a in command.args)


@dataclass(frozen=True)
class Command:
    where: str  # README.md:LINE
    text: str  # as written (continuation lines joined)

    @property
    def args(self) -> list[str]:
        return shlex.split(self.text, comments=True)


def collect(readme: str) -> list[Command]:
    """The ``autoembed`` command lines of the fenced code blocks of ``readme``."""
    out: list[Command] = []
    fenced = False
    lines = (PROJECT_ROOT / readme).read_text().splitlines()
    i = 0
    while i < len(lines):
        line, start = lines[i], i + 1
        i += 1
        if line.lstrip().startswith("```"):
            fenced = not fenced
            continue
        if not fenced or not line.strip().startswith("autoembed "):
            continue
        text = line.strip()
        while text.split(" #")[0].rstrip().endswith("\\") and i < len(lines):
            text = text.split(" #")[0].rstrip()[:-1] + " " + lines[i].strip()
            i += 1
        out.append(Command(f"{readme}:{start}", text))
    return out


COMMANDS = [c for readme in READMES for c in collect(readme)]


def substitute(args: list[str], workspace: Path) -> list[str]:
    """The command as this test runs it (see the module docstring); skips what needs absent data."""
    if any(re.match(r"(s3|gs)://", a) for a in args):
        pytest.skip("needs cloud storage (s3:// or gs://)")
    args = [a.replace("$PWD", str(workspace)).replace("../shared/data", str(SHARED_DATA))
            for a in args]
    for a in args:
        if a.startswith(str(SHARED_DATA)) and not Path(a).exists():
            pytest.skip(f"needs real data at {a}")
    for k, a in enumerate(args):
        match = re.fullmatch(r"/path/to/([\w.-]+)", a)
        if match:
            real = SHARED_DATA / match.group(1)
            if not real.exists():
                pytest.skip(f"needs real data at {real}")
            args[k] = str(real)
    sub = args[1] if len(args) > 1 else ""
    if sub == "train":
        if "--dataset" in args:
            k = args.index("--dataset") + 1
            name = args[k]
            if name in REAL_DATASETS and not (SHARED_DATA / REAL_DATASETS[name]).exists():
                args[k:k + 1] = ["synthetic", "--data-option", "scale=tiny"]
        args += ["--max-steps", MAX_STEPS]
    elif sub == "sweep" and "--resume" not in args:
        args += ["--smoke-test", "--quiet"]
    elif sub == "study":
        args += ["--smoke-test", "--quiet", "--storage-path", str(workspace / "experiments" / "study")]
    return args


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder that looks like the repository: its entries linked, ``results/`` a copy."""
    ws = tmp_path_factory.mktemp("readme")
    for entry in PROJECT_ROOT.iterdir():
        if entry.name in ("results", "experiments") or entry.name.startswith("."):
            continue
        (ws / entry.name).symlink_to(entry)
    shutil.copytree(PROJECT_ROOT / "results", ws / "results", symlinks=True)
    return ws


def test_the_readmes_have_commands() -> None:
    assert any(c.args[:2] == ["autoembed", "train"] for c in COMMANDS)
    assert any(c.args[:2] == ["autoembed", "sweep"] for c in COMMANDS)


@pytest.mark.parametrize(
    "command",
    [pytest.param(c, id=c.where, marks=[pytest.mark.slow] if is_slow(c) else [])
     for c in COMMANDS],
)
def test_readme_command_runs(command: Command, workspace: Path) -> None:
    args = substitute(command.args, workspace)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", PYTHONUNBUFFERED="1")
    env.pop("RAY_ADDRESS", None)
    run = subprocess.run([sys.executable, "-m", *args], cwd=workspace, env=env,
                         capture_output=True, text=True, timeout=900)
    assert run.returncode == 0, (
        f"{command.where}: `{command.text}` failed (exit {run.returncode})\n"
        f"ran: {shlex.join(args)}\n--- stderr (tail) ---\n{run.stderr[-3000:]}"
        f"\n--- stdout (tail) ---\n{run.stdout[-1500:]}"
    )
