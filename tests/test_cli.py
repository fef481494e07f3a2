"""The command line, as a user calls it."""

from __future__ import annotations

from typer.testing import CliRunner

from moot.cli import app

runner = CliRunner()


def test_help_lists_the_commands():
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "improve" in result.output


def test_bad_input_exits_with_a_clear_message(tmp_path):
    result = runner.invoke(app, ["improve", "debate", "--eval-split", "train", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "test" in result.output
    result = runner.invoke(app, ["improve", "chess", "--run-dir", str(tmp_path)])
    assert result.exit_code == 2 and "unknown protocol 'chess'" in result.output
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
