"""Test-only method plugin, registered at runtime (no entry point): a uniform embedding that can
fail on purpose, run slowly, and log every fresh construction.

Controlled through files in ``control_dir`` so one sweep can hold differently behaving points:
``<tag>.once`` (deleted, then raise: the next attempt succeeds), ``<tag>.always`` (raise every
attempt); every fresh construction appends ``<trial_id> <tag> <pid>`` to ``attempts.log``.
Used by the sweep fault tests through the YAML ``plugins:`` key.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from autoembed.embeddings.registry import register_method
from autoembed.embeddings.uniform import UniformEmbedding


@dataclass
class FlakyConfig:
    control_dir: str = ""
    tag: str = ""
    fail_at_step: int = 1
    sleep_per_step: float = 0.0
    init_std: float = 0.0


def _trial_id() -> str:
    try:
        from ray import tune

        return tune.get_context().get_trial_id() or "-"
    except Exception:
        return "-"


class FlakyEmbedding(UniformEmbedding):
    """Uniform, with the fault-injection knobs of :class:`FlakyConfig`."""

    name = "flaky"
    Config = FlakyConfig

    def __init__(self, spec, config: FlakyConfig | None = None) -> None:
        super().__init__(spec, config or FlakyConfig())
        if self.config.control_dir:
            with open(Path(self.config.control_dir) / "attempts.log", "a") as f:
                f.write(f"{_trial_id()} {self.config.tag} {os.getpid()}\n")

    def after_step(self, step: int) -> None:
        cfg = self.config
        if cfg.sleep_per_step:
            time.sleep(cfg.sleep_per_step)
        if not cfg.control_dir or step < cfg.fail_at_step:
            return
        base = Path(cfg.control_dir) / cfg.tag
        if base.with_suffix(".always").exists():
            raise RuntimeError(f"planned permanent failure at step {step}")
        once = base.with_suffix(".once")
        if once.exists():
            once.unlink()
            raise RuntimeError(f"planned failure at step {step}")


register_method("flaky", FlakyEmbedding)
