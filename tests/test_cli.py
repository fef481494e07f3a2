"""The command line, as a user calls it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, get_args

import pytest
import typer
from typer.testing import CliRunner

from moot.cli import app
from moot.cli_options import field_help, option
from moot.loops.improve_config import ImproveConfig
from moot.loops.live_config import LiveConfig
from moot.nodes.debate import DebateConfig, RoleScheme
from moot.nodes.serving.compute_dtype import DtypeChoice
from moot.runs.config import RunConfig
from moot.loops.selfplay_config import SelfPlayConfig
from moot.evaluation.tasks import SplitSizes

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "improve" in result.output


def test_bad_input_exits_with_a_clear_message(tmp_path):
    result = runner.invoke(app, ["improve", "debate", "--eval-split", "train", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "test" in result.output
    result = runner.invoke(app, ["improve", "chess", "--run-dir", str(tmp_path)])
    # refused by the parser, from the config's Literal: the choices are named
    assert result.exit_code == 2 and "'chess' is not one of" in result.output and "critique" in result.output
    result = runner.invoke(app, ["improve", "debate", "--task", str(tmp_path / "missing.jsonl"), "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "missing.jsonl" in result.output


def test_selfplay_and_report_refuse_bad_input(tmp_path):
    result = runner.invoke(app, ["selfplay", "poker"])
    assert result.exit_code == 2 and "sell-buy" in result.output
    result = runner.invoke(app, ["selfplay", "sell-buy", "--keep", "luck"])
    assert result.exit_code == 2 and "won" in result.output
    result = runner.invoke(app, ["report", str(tmp_path)])
    assert result.exit_code == 2 and "no report.json" in result.output
    result = runner.invoke(app, ["improve", "debate", "--backend", "vllm", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--base-url" in result.output
    result = runner.invoke(app, ["improve", "debate", "--concurrency", "0", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--concurrency" in result.output
    result = runner.invoke(app, ["selfplay", "sell-buy", "--warm-start-games", "-1", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "--warm-start-games" in result.output
    for command in (["improve", "debate"], ["selfplay", "sell-buy"], ["serve"]):
        result = runner.invoke(app, [*command, "--dtype", "float16"])
        assert result.exit_code == 2 and "--dtype" in result.output and "bfloat16" in result.output


def test_an_unreachable_vllm_server_is_one_clear_error(tmp_path):
    result = runner.invoke(app, ["improve", "debate", "--backend", "vllm", "--base-url", "http://127.0.0.1:9/v1",
                                 "--request-timeout", "2", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "127.0.0.1:9" in result.output


def _options(command: str) -> dict[str, Any]:
    group = typer.main.get_command(app)
    return {opt: p for p in group.commands[command].params for opt in p.opts}  # type: ignore[attr-defined]


def test_defaults_and_help_come_from_the_configs():
    improve, selfplay, live = _options("improve"), _options("selfplay"), _options("live")
    assert improve["--iterations"].default == ImproveConfig.iterations
    assert improve["--max-tokens"].default == DebateConfig.max_tokens
    assert improve["--train-size"].default == SplitSizes.train
    assert improve["--max-examples"].default == RunConfig.max_examples_per_role
    assert improve["--gate-problems"].help == field_help(ImproveConfig, "gate_problems")
    assert live["--every"].default == LiveConfig().learner.every
    assert live["--gate-problems"].default == LiveConfig.gate_problems != ImproveConfig.gate_problems
    assert selfplay["--epochs"].default == SelfPlayConfig().lora.epochs
    # Literal fields are choices the parser enforces
    assert improve["--roles"].type_descriptor.annotation == RoleScheme
    assert get_args(improve["--dtype"].type_descriptor.annotation) == get_args(DtypeChoice)
    for name, options in (("improve", improve), ("selfplay", selfplay), ("live", live)):
        undocumented = [o for o, p in options.items() if o.startswith("--") and not getattr(p, "help", None)]
        assert not undocumented, f"{name}: {undocumented}"


def test_an_undocumented_field_is_refused_when_the_cli_is_built():
    @dataclass
    class Settings:
        """Settings of a test.

        Attributes:
            documented: Has help.
        """

        documented: int = 1
        silent: int = 2

    assert field_help(Settings, "documented") == "Has help."
    with pytest.raises(KeyError, match="silent"):
        option(Settings, "silent")


def test_serve_passes_the_worker_in_engine_process_setting_to_vllm(monkeypatch):
    from moot.nodes.serving import vllm_server

    started = []

    class ExitedAtOnce:
        returncode = 1

        def poll(self) -> int:
            return 1

        def terminate(self) -> None:
            pass

    def start(config, log_path=None):  # noqa: ANN001, ANN202 - start_vllm_server's signature
        started.append(config)
        return ExitedAtOnce()

    monkeypatch.setattr(vllm_server, "start_vllm_server", start)
    for flag, in_engine in (("--worker-in-engine-process", True), ("--no-worker-in-engine-process", False)):
        result = runner.invoke(app, ["serve", "--python", "python-of-vllm", flag])
        assert result.exit_code == 1 and "exited" in result.output
        environment = started[-1].environment()
        assert started[-1].worker_in_engine_process is in_engine
        assert (environment.get("VLLM_ENABLE_V1_MULTIPROCESSING") == "0") is in_engine
