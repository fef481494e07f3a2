"""The public API: every exported name resolves, and the CLI starts without the model stack."""

from __future__ import annotations

import subprocess
import sys

import moot


def test_every_public_name_resolves_and_the_top_level_stays_small():
    missing = [name for name in moot.__all__ if getattr(moot, name, None) is None]
    assert missing == []
    assert moot.ImproveRun.__module__ == "moot.loops.improve" and moot.LocalModelPool.__module__.startswith("moot.nodes.serving")
    assert len(moot.__all__) <= 17  # about fifteen names; the rest lives in the package its folder names


def test_research_features_live_in_moot_experimental():
    import moot.experimental as experimental

    assert [name for name in experimental.__all__ if getattr(experimental, name, None) is None] == []
    assert experimental.CandidateConfig.__module__ == "moot.selection.candidates"
    assert not {"CandidateConfig", "PromptOptimizationConfig", "League"} & set(moot.__all__)


def test_the_cli_starts_without_importing_torch():
    code = "import sys, moot.cli; print(sorted(m for m in ('torch', 'transformers', 'chromadb') if m in sys.modules))"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "[]"
