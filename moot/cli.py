"""The ``moot`` command line."""

from __future__ import annotations

import functools
import inspect
import logging
import os
import signal
import sys
import warnings
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Callable, Iterator, Optional

import typer
from rich.console import Console

from moot.selection.candidates import Allocation, CandidateConfig
from moot.cli_options import field_default, field_help, option
from moot.loops.improve_config import ImproveConfig
from moot.loops.task_run_config import TASK_PROTOCOLS, EvalSplit
from moot.live.learner_config import LearnerConfig
from moot.loops.live_config import LiveConfig
from moot.nodes.critique import CritiqueConfig
from moot.nodes.debate import DebateConfig, RoleScheme
from moot.nodes.serving.compute_dtype import DtypeChoice
from moot.nodes.serving.vllm_server import VLLMServerConfig
from moot.selection.prompts import PromptOptimizationConfig
from moot.protocols.augmentation_config import AugmentationConfig
from moot.protocols.user_graph_config import GraphConfig, is_graph_spec
from moot.runs.config import Backend, BackendConfig, RunConfig
from moot.loops.selfplay_config import GameVariant, League, SelfPlayConfig
from moot.evaluation.tasks import SplitSizes
from moot.training.examples import CurationConfig, NegotiationFilter, Target
from moot.training.lora_training import LoraTrainingConfig
from moot.training.preferences import Objective
from moot.loops.experiment_on_ray import RayResources
from moot.training.negotiation_warm_start import WarmStartConfig

# moot shows its own progress; transformers' per-load "Loading weights" bars (which it reads
# from this setting when it is imported, later) would only interleave with it.
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")

app = typer.Typer(help="moot: multi-agent LLM systems that improve themselves.", no_args_is_help=True)
LOG_WIDTH = 200
"""Columns of output that is not a terminal: long runs write to logs (``nohup ... > log``),
where rich's default of 80 columns would wrap every report table."""
console = Console(width=None if sys.stdout.isatty() else LOG_WIDTH)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


@app.callback()
def main(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False) -> None:
    # SIGTERM (a scheduler, `kill`) unwinds like Ctrl-C, so pending records are flushed on the way out.
    signal.signal(signal.SIGTERM, _interrupt)
    # transformers deprecates the gradient-checkpointing names that peft and trl still call;
    # the user can do nothing about it, so it is not shown.
    warnings.filterwarnings("ignore", category=FutureWarning, message=".*checkpointing.*")
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")


@contextmanager
def _errors_exit_cleanly() -> Iterator[None]:
    """Bad input or an unusable server: one red line and exit code 2, not a traceback."""
    try:
        yield
    except (ValueError, OSError, RuntimeError) as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(2) from error
    except KeyboardInterrupt as interrupt:
        console.print("[yellow]interrupted:[/] finished episodes were saved; rerun with --resume to continue")
        raise typer.Exit(130) from interrupt


@dataclass(frozen=True)
class RunOptions:
    """The options every command that runs a loop shares, collected by :func:`_with_run_options`."""

    seed: int
    model: Optional[Path]
    library: Optional[str]
    backend: Backend
    base_url: Optional[str]
    max_loras: int
    max_lora_rank: int
    request_timeout: float
    concurrency: int
    dtype: DtypeChoice
    half_weights: bool
    api_key: Optional[str]
    resume: bool
    overwrite: bool
    max_examples: int
    learning_rate: float
    max_steps: int
    objective: Objective
    beta: float

    @property
    def mode(self) -> str:
        if self.resume and self.overwrite:
            raise typer.BadParameter("choose one of --resume and --overwrite", param_hint="--resume")
        return "resume" if self.resume else "overwrite" if self.overwrite else "new"

    def backend_config(self) -> BackendConfig:
        if self.backend == "vllm" and not self.base_url:
            raise typer.BadParameter("the vllm backend needs --base-url (see `moot serve`)", param_hint="--base-url")
        return BackendConfig(self.backend, self.base_url, self.max_loras, self.max_lora_rank,
                             self.request_timeout, self.dtype, self.api_key, self.half_weights)

    def run_config(self, run_dir: Path) -> dict[str, Any]:
        """The :class:`~moot.runs.config.RunConfig` fields these options set."""
        if self.model is not None and not (self.model / "config.json").is_file():
            raise typer.BadParameter(f"{self.model} is not a Hugging Face model folder (no config.json)",
                                     param_hint="--model")
        return {"seed": self.seed, "max_examples_per_role": self.max_examples, "run_dir": run_dir,
                "library": self.library, "model_dir": self.model, "concurrency": self.concurrency,
                "backend": self.backend_config()}

    def lora(self, **settings: Any) -> LoraTrainingConfig:
        """LoRA settings: these options' learning rate, steps, dtype and seed, plus ``settings``."""
        return LoraTrainingConfig(learning_rate=self.learning_rate, max_steps=self.max_steps, dtype=self.dtype,
                                  seed=self.seed, objective=self.objective, beta=self.beta, **settings)


# Each shared option: its type, and its typer.Option (default and help from the config that owns it).
_RUN_OPTIONS: dict[str, tuple[Any, Any]] = {
    "seed": (int, option(RunConfig, "seed")),
    "model": (Optional[Path], option(RunConfig, "model_dir", "--model")),
    "library": (Optional[str], option(RunConfig, "library")),
    "backend": (Backend, option(BackendConfig, "backend")),
    "base_url": (Optional[str], option(BackendConfig, "base_url")),
    "max_loras": (int, option(BackendConfig, "max_loras")),
    "max_lora_rank": (int, option(BackendConfig, "max_lora_rank")),
    "request_timeout": (float, option(BackendConfig, "request_timeout_s", "--request-timeout", min=1.0)),
    "concurrency": (int, option(RunConfig, "concurrency", min=1)),
    "dtype": (DtypeChoice, option(BackendConfig, "dtype")),
    "half_weights": (bool, option(BackendConfig, "half_weights", "--half-weights/--no-half-weights")),
    "api_key": (Optional[str], option(BackendConfig, "api_key", envvar="MOOT_API_KEY", show_default=False)),
    "resume": (bool, typer.Option(False, help="Continue the run in --run-dir at its first unfinished phase and episode.")),
    "overwrite": (bool, typer.Option(False, help="Clear --run-dir (and its records) if it holds another run.")),
    "max_examples": (int, option(RunConfig, "max_examples_per_role", "--max-examples", min=1)),
    "learning_rate": (float, option(LoraTrainingConfig, "learning_rate")),
    "max_steps": (int, option(LoraTrainingConfig, "max_steps")),
    "objective": (Objective, option(LoraTrainingConfig, "objective")),
    "beta": (float, option(LoraTrainingConfig, "beta", min=1e-6)),
}


def _with_run_options(*, without: tuple[str, ...] = ()) -> Callable[[Callable[..., None]], Callable[..., None]]:
    """Give a command the shared options (less those ``without``, which keep their defaults) as CLI
    parameters, handed to it as one ``run: RunOptions``."""

    def decorate(command: Callable[..., None]) -> Callable[..., None]:
        signature = inspect.signature(command, eval_str=True)
        own = [p for p in signature.parameters.values() if p.name != "run"]
        shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                  for name, (annotation, default) in _RUN_OPTIONS.items() if name not in without]

        @functools.wraps(command)
        def wrapper(**kwargs: Any) -> None:
            options = RunOptions(**{name: option.default if name in without else kwargs.pop(name)
                                    for name, (_, option) in _RUN_OPTIONS.items()})
            command(run=options, **kwargs)

        wrapper.__signature__ = signature.replace(parameters=[*own, *shared])  # type: ignore[attr-defined]
        wrapper.__annotations__ = {p.name: p.annotation for p in (*own, *shared)}
        return wrapper

    return decorate


def _split_options(**helps: str) -> dict[str, Any]:
    """--train-size, --validation-size, --test-size (their help replaced where a command gives its own)."""
    return {name: option(SplitSizes, name, f"--{name}-size", min=1, help=helps.get(name)) for name in ("train", "validation", "test")}


_BUILT_IN = [p for p in TASK_PROTOCOLS if p != "graph"]
_PROTOCOL_HELP = f"{', '.join(_BUILT_IN)}, or path/to/file.py:function for a graph of your own"


def _protocol(value: str, question_key: str, answer_key: str) -> dict[str, Any]:
    """The config fields a PROTOCOL argument sets: a built-in protocol, or the graph a builder spec names."""
    if is_graph_spec(value):
        return {"protocol": "graph", "graph": GraphConfig(value, question_key=question_key, answer_key=answer_key)}
    if value not in _BUILT_IN:
        raise typer.BadParameter(f"{value!r} is not one of {', '.join(map(repr, _BUILT_IN))}, nor a graph of "
                                 f"your own (path/to/file.py:function)", param_hint="PROTOCOL")
    return {"protocol": value}


# A debate's shape: unset, each command keeps its own config's default (live's is not improve's).
_AGENTS = option(DebateConfig, "n_agents", "--agents", min=1, default=None,
                 show_default=str(field_default(DebateConfig, "n_agents")), help="{help} Debate only.")
_ROUNDS = option(DebateConfig, "n_rounds", "--rounds", min=1, default=None,
                 show_default=str(field_default(DebateConfig, "n_rounds")), help="{help} Debate only.")


def _debate_shape(protocol: str, debate: DebateConfig, agents: Optional[int], rounds: Optional[int]) -> DebateConfig:
    """``debate`` with the --agents and --rounds given; refused for a protocol that is not a debate."""
    if protocol != "debate" and (agents is not None or rounds is not None):
        raise typer.BadParameter(f"{protocol} has no agents or rounds; they shape a debate only",
                                 param_hint="--agents" if agents is not None else "--rounds")
    return replace(debate, n_agents=agents or debate.n_agents, n_rounds=rounds or debate.n_rounds)


def _run_name(protocol: str) -> str:
    """A run folder name for ``protocol`` (a graph's builder function names it)."""
    return protocol.rpartition(":")[2]


_SPLIT = _split_options()
_LIVE_SPLIT = _split_options(train="Problems replayed as traffic.",
                             validation="Problems the gate may play (it plays --gate-problems).",
                             test="Held-out problems scoring the first and final versions.")
_EACH_PROTOCOLS_OWN = "{help} (default: each protocol's own)"


@app.command()
@_with_run_options()
def improve(
    protocol: str = typer.Argument(field_default(ImproveConfig, "protocol"), help=f"Protocol to improve: {_PROTOCOL_HELP}."),
    task: str = option(ImproveConfig, "task"),
    answer: str = option(ImproveConfig, "answer"),
    question_field: str = option(ImproveConfig, "question_field"),
    answer_field: str = option(ImproveConfig, "answer_field"),
    graph_question_key: str = option(GraphConfig, "question_key", "--graph-question-key"),
    graph_answer_key: str = option(GraphConfig, "answer_key", "--graph-answer-key"),
    level: str = option(ImproveConfig, "level"),
    iterations: int = option(ImproveConfig, "iterations", min=1),
    agents: Optional[int] = _AGENTS,
    rounds: Optional[int] = _ROUNDS,
    roles: RoleScheme = option(DebateConfig, "roles"),
    summarize: bool = option(DebateConfig, "summarize"),
    temperature: Optional[float] = option(DebateConfig, "temperature", min=0.0, default=None, help=_EACH_PROTOCOLS_OWN),
    max_retries: int = option(CritiqueConfig, "max_retries", min=0),
    repairs: Optional[int] = option(AugmentationConfig, "max_trajectories", "--repairs", min=0),
    max_tokens: int = option(DebateConfig, "max_tokens", min=1),
    train_size: int = _SPLIT["train"],
    validation_size: int = _SPLIT["validation"],
    test_size: int = _SPLIT["test"],
    eval_split: EvalSplit = option(ImproveConfig, "eval_split"),
    filter: Target = option(CurationConfig, "target", "--filter"),
    epochs: float = option(LoraTrainingConfig, "epochs"),
    rank: int = option(LoraTrainingConfig, "rank", help="{help} (alpha is twice the rank)"),
    gate_problems: int = option(ImproveConfig, "gate_problems", min=0),
    candidates: int = option(CandidateConfig, "count", "--candidates", min=1),
    allocation: Allocation = option(CandidateConfig, "allocation"),
    prompt_rounds: int = option(PromptOptimizationConfig, "rounds", "--prompt-rounds", min=0),
    optimizer_url: Optional[str] = option(PromptOptimizationConfig, "optimizer_url", envvar="MOOT_OPTIMIZER_URL"),
    optimizer_model: str = option(PromptOptimizationConfig, "optimizer_model"),
    run_dir: Optional[Path] = typer.Option(None, help="Run folder (default: runs/<protocol>-<time>)."),
    *,
    run: RunOptions,
) -> None:
    """Play episodes, learn one LoRA adapter per role from the successes, hot-swap, evaluate."""
    from moot.loops.improve import improve as run_improve
    from moot.nodes.chain import ChainConfig

    sampling = {} if temperature is None else {"temperature": temperature}
    with _errors_exit_cleanly():
        debate = _debate_shape(protocol, DebateConfig(roles=roles, summarize=summarize, max_tokens=max_tokens,
                                                      **sampling), agents, rounds)
        config = ImproveConfig(
            **_protocol(protocol, graph_question_key, graph_answer_key),
            task=task,
            answer=answer,
            question_field=question_field,
            answer_field=answer_field,
            level=level,
            sizes=SplitSizes(train_size, validation_size, test_size),
            eval_split=eval_split,
            iterations=iterations,
            debate=debate,
            chain=ChainConfig(**sampling),
            critique=CritiqueConfig(max_retries=max_retries, **sampling),
            augmentation=AugmentationConfig(max_trajectories=repairs),
            curation=CurationConfig(target=filter),
            lora=run.lora(rank=rank, alpha=2 * rank, epochs=epochs),
            gate_problems=gate_problems,
            candidates=CandidateConfig(count=candidates, allocation=allocation),
            prompts=PromptOptimizationConfig(rounds=prompt_rounds, optimizer_url=optimizer_url,
                                             optimizer_model=optimizer_model),
            **run.run_config(run_dir or Path("runs") / f"{_run_name(protocol)}-{datetime.now():%Y%m%d-%H%M%S}"),
        )
        run_improve(config, console=console, mode=run.mode)


@app.command()
@_with_run_options()
def selfplay(
    game: str = typer.Argument(..., help=field_help(SelfPlayConfig, "game")),
    games: int = option(SelfPlayConfig, "games", min=1),
    iterations: int = option(SelfPlayConfig, "iterations", min=1),
    eval_games: int = option(SelfPlayConfig, "eval_games", min=1),
    variant: GameVariant = option(SelfPlayConfig, "variant"),
    max_turns: Optional[int] = option(SelfPlayConfig, "max_turns", min=1),
    keep: NegotiationFilter = option(CurationConfig, "keep"),
    utility_threshold: float = option(CurationConfig, "utility_threshold"),
    temperature: float = option(SelfPlayConfig, "temperature", min=0.0),
    max_tokens: int = option(SelfPlayConfig, "max_tokens", min=1),
    constrain_actions: bool = option(SelfPlayConfig, "constrain_actions"),
    league: League = option(SelfPlayConfig, "league"),
    robustness_games: int = option(SelfPlayConfig, "robustness_games", min=0),
    warm_start_games: int = option(WarmStartConfig, "games", "--warm-start-games", min=0,
                                   help="Scripted games that teach the base the action format before self-play (0: none)."),
    epochs: float = option(LoraTrainingConfig, "epochs", default=field_default(SelfPlayConfig, "lora").epochs,
                           help="{help} (each seat's training)"),
    run_dir: Optional[Path] = typer.Option(None, help="Run folder (default: runs/selfplay-<game>-<time>)."),
    *,
    run: RunOptions,
) -> None:
    """Negotiation self-play: play, log every turn, train each side, hot-swap, play the frozen base."""
    from moot.nodes.negotiation_rules import GAMES
    from moot.loops.selfplay import selfplay as run_selfplay

    if game not in GAMES:
        raise typer.BadParameter(f"choose one of {', '.join(GAMES)}", param_hint="GAME")
    with _errors_exit_cleanly():
        config = SelfPlayConfig(
            game=game, variant=variant, max_turns=max_turns, games=games, eval_games=eval_games, iterations=iterations,
            curation=CurationConfig(keep=keep, utility_threshold=utility_threshold), temperature=temperature, max_tokens=max_tokens,
            constrain_actions=constrain_actions, league=league, robustness_games=robustness_games,
            warm_start=WarmStartConfig(games=warm_start_games, seed=run.seed), lora=run.lora(epochs=epochs),
            **run.run_config(run_dir or Path("runs") / f"selfplay-{game}-{datetime.now():%Y%m%d-%H%M%S}"),
        )
        run_selfplay(config, console=console, mode=run.mode)


_LIVE_LEARNER: LearnerConfig = field_default(LiveConfig, "learner")


@app.command()
@_with_run_options(without=("objective", "beta"))  # the live learner distils by SFT
def live(
    protocol: str = typer.Argument(field_default(LiveConfig, "protocol"), help=f"Protocol that serves the traffic: {_PROTOCOL_HELP}."),
    task: str = option(LiveConfig, "task"),
    answer: str = option(LiveConfig, "answer"),
    question_field: str = option(LiveConfig, "question_field"),
    answer_field: str = option(LiveConfig, "answer_field"),
    graph_question_key: str = option(GraphConfig, "question_key", "--graph-question-key"),
    graph_answer_key: str = option(GraphConfig, "answer_key", "--graph-answer-key"),
    level: str = option(LiveConfig, "level"),
    agents: Optional[int] = _AGENTS,
    rounds: Optional[int] = _ROUNDS,
    minutes: float = option(LiveConfig, "minutes", min=0.1),
    traffic_concurrency: int = option(LiveConfig, "traffic_concurrency", min=1),
    every: int = option(LearnerConfig, "every", min=1, default=_LIVE_LEARNER.every),
    every_minutes: Optional[float] = option(LearnerConfig, "every_minutes", min=0.0, default=_LIVE_LEARNER.every_minutes),
    replay_share: float = option(LearnerConfig, "replay_share", min=0.0, max=0.95, default=_LIVE_LEARNER.replay_share),
    gate_problems: int = option(LiveConfig, "gate_problems", min=1),
    train_threads: int = option(LearnerConfig, "train_threads", min=1, default=_LIVE_LEARNER.train_threads),
    train_niceness: int = option(LearnerConfig, "train_niceness", min=0, max=19, default=_LIVE_LEARNER.train_niceness),
    yield_to_traffic: bool = option(LearnerConfig, "yield_to_traffic", default=_LIVE_LEARNER.yield_to_traffic),
    min_train_share: float = option(LearnerConfig, "min_train_share", min=0.0, max=1.0,
                                    default=_LIVE_LEARNER.min_train_share),
    train_on_ray: Optional[str] = option(LearnerConfig, "train_on_ray", default=_LIVE_LEARNER.train_on_ray),
    ray_cpus: int = option(LearnerConfig, "ray_cpus", min=1, default=_LIVE_LEARNER.ray_cpus),
    epochs: float = option(LoraTrainingConfig, "epochs", default=_LIVE_LEARNER.lora.epochs,
                           help="{help} (each distillation)"),
    train_size: int = _LIVE_SPLIT["train"],
    validation_size: int = _LIVE_SPLIT["validation"],
    test_size: int = _LIVE_SPLIT["test"],
    finish_distillation: bool = option(LiveConfig, "finish_distillation"),
    run_dir: Optional[Path] = typer.Option(None, help="Run folder (default: runs/live-<protocol>-<time>)."),
    *,
    run: RunOptions,
) -> None:
    """Serve a stream of traffic while the live learner distils, gates and hot-swaps behind it."""
    from moot.loops.live import live as run_live

    with _errors_exit_cleanly():
        debate = _debate_shape(protocol, field_default(LiveConfig, "debate"), agents, rounds)
        config = LiveConfig(
            **_protocol(protocol, graph_question_key, graph_answer_key), task=task, answer=answer, question_field=question_field, answer_field=answer_field,
            level=level, debate=debate, minutes=minutes, traffic_concurrency=traffic_concurrency,
            sizes=SplitSizes(train_size, validation_size, test_size), gate_problems=gate_problems,
            finish_distillation=finish_distillation,
            learner=replace(_LIVE_LEARNER, every=every, every_minutes=every_minutes, replay_share=replay_share,
                            train_threads=train_threads, train_niceness=train_niceness, train_on_ray=train_on_ray,
                            ray_cpus=ray_cpus, yield_to_traffic=yield_to_traffic, min_train_share=min_train_share, lora=run.lora(epochs=epochs),
                            seed=run.seed),
            **run.run_config(run_dir or Path("runs") / f"live-{_run_name(protocol)}-{datetime.now():%Y%m%d-%H%M%S}"),
        )
        run_live(config, console=console, mode=run.mode)


experiment_app = typer.Typer(help="Experiments as files: arms x seeds of improve runs, resumable, reported over seeds.",
                             no_args_is_help=True)
app.add_typer(experiment_app, name="experiment")


@experiment_app.command("run")
def experiment_run(
    file: Annotated[Path, typer.Argument(help="The experiment file (TOML; see experiments/).")],
    runs_dir: Annotated[Path, typer.Option(help="Where each arm's run folders go.")] = Path("runs"),
    ray: Annotated[Optional[str], typer.Option(
        help="Run each (arm, seed) as a task of the Ray cluster at this address (host:port, or auto); "
             "the nodes share the runs folder (see docs/ray.md).")] = None,
    ray_cpus: int = option(RayResources, "cpus", "--ray-cpus", min=1),
    ray_gpus: float = option(RayResources, "gpus", "--ray-gpus", min=0),
    ray_retries: int = option(RayResources, "retries", "--ray-retries", min=0),
) -> None:
    """Run every (arm, seed) not finished yet: finished runs are skipped, interrupted ones resume."""
    from moot.loops.experiment import Experiment, report_experiment, run_experiment

    with _errors_exit_cleanly():
        experiment = Experiment.load(file, runs_dir)
        if ray:
            from moot.loops.experiment_on_ray import run_experiment_on_ray

            wall = run_experiment_on_ray(experiment, ray, RayResources(ray_cpus, ray_gpus, ray_retries), console=console)
        else:
            wall = run_experiment(experiment, console=console)
        for run, seconds in wall.items():
            console.print(f"{run}: {seconds / 60:.1f} min")
        report_experiment(experiment, console=console)


@experiment_app.command("report")
def experiment_report(
    file: Annotated[Path, typer.Argument(help="The experiment file (TOML).")],
    runs_dir: Annotated[Path, typer.Option(help="Where the arms' run folders are.")] = Path("runs"),
    out: Annotated[Optional[Path], typer.Option(help="Where experiment.json and the plots go (default: runs/<name>).")] = None,
) -> None:
    """One table and plots of what has finished: mean over seeds ± its standard error, per arm and iteration."""
    from moot.loops.experiment import Experiment, report_experiment

    with _errors_exit_cleanly():
        report_experiment(Experiment.load(file, runs_dir), out, console=console)


@app.command()
def report(
    runs: Annotated[list[Path], typer.Argument(help="Run folders to put side by side.")],
    out: Annotated[Path, typer.Option(help="Where the combined report.json and report.png go.")] = Path("runs/combined"),
) -> None:
    """Put several runs' held-out scores in one table and plot (e.g. --repairs 0 against the default)."""
    from moot.evaluation.report import combine_reports

    missing = [str(r) for r in runs if not (r / "report.json").is_file()]
    if missing:
        console.print(f"[red]error:[/] no report.json in {', '.join(missing)}")
        raise typer.Exit(2)
    combined = combine_reports(list(runs), out)
    console.print(combined.table())
    for run, augmentation in combined.augmentation.items():
        for iteration, data in augmentation.items():
            for role, row in data["per_role"].items():
                console.print(f"{run} {iteration} augmentation {role}: {row['repaired']}/{row['attempted']} (ratio {row['ratio']:.2f})")
    console.print(f"report: {out / 'report.json'}  plot: {out / 'report.png'}")


@app.command()
def serve(
    python: str = option(VLLMServerConfig, "python"),
    port: int = option(VLLMServerConfig, "port"),
    host: str = option(VLLMServerConfig, "host"),
    max_loras: int = option(VLLMServerConfig, "max_loras"),
    max_lora_rank: int = option(VLLMServerConfig, "max_lora_rank"),
    kv_cache_gib: int = option(VLLMServerConfig, "kv_cache_gib"),
    dtype: DtypeChoice = option(BackendConfig, "dtype", default="auto"),
    api_key: Optional[str] = option(VLLMServerConfig, "api_key", envvar="MOOT_API_KEY", show_default=False),
    worker_in_engine_process: bool = option(VLLMServerConfig, "worker_in_engine_process"),
) -> None:
    """Serve the embedded model with vLLM (LoRA enabled) until interrupted; then use --backend vllm."""
    from moot.nodes.serving.compute_dtype import dtype_name, resolve_dtype
    from moot.nodes.serving.vllm_server import VLLMServerConfig, start_vllm_server, wait_until_ready

    with _errors_exit_cleanly():
        config = VLLMServerConfig(python=python, host=host, port=port, max_loras=max_loras, max_lora_rank=max_lora_rank,
                                  kv_cache_gib=kv_cache_gib, dtype=dtype_name(resolve_dtype(dtype)),  # type: ignore[arg-type]
                                  api_key=api_key, worker_in_engine_process=worker_in_engine_process)
    console.print(" ".join(config.command()).replace(api_key or "\0", "***"))
    process = start_vllm_server(config)
    try:
        wait_until_ready(config.base_url, process=process)
        console.print(f"[green]ready:[/] --backend vllm --base-url {config.base_url}")
        process.wait()
    except RuntimeError as error:
        console.print(f"[red]error:[/] {error}")
        raise typer.Exit(1) from error
    except KeyboardInterrupt:
        pass
    finally:
        process.terminate()


if __name__ == "__main__":
    app()
