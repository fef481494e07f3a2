"""The scripted warm start and the self-play loop's adapter lineage (fake players, tiny model)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings, strategies as st
from langchain_core.language_models import FakeListChatModel

from moot.nodes import SharedModelPool
from moot.nodes.negotiation import NegotiationConfig, player_messages
from moot.nodes.negotiation_rules import GAMES, GameState, game_spec, parse_action
from moot.loops.selfplay import FROZEN_BASE, WARM_START, SelfPlayConfig, SelfPlayRun
from moot.training import AdapterManifest, CurationConfig, LoraTrainingConfig
from moot.training.negotiation_warm_start import WarmStartConfig, warm_start_examples


@settings(max_examples=30, deadline=None)
@given(game=st.sampled_from(GAMES), variant=st.sampled_from(["default", "sirius-generalization"]),
       seed=st.integers(0, 10_000))
def test_every_scripted_move_is_valid_under_the_referee(game, variant, seed):
    negotiation = NegotiationConfig(game_spec(game, variant))
    examples = warm_start_examples(negotiation, WarmStartConfig(games=3, seed=seed))
    assert examples
    for example in examples:
        seat = example.role
        action = parse_action(negotiation.game, seat, example.completion)
        assert action.kind in ("propose", "accept", "reject"), example.completion


def test_examples_carry_the_prompt_the_graph_would_show_at_that_turn():
    negotiation = NegotiationConfig(game_spec("sell-buy"))
    first = warm_start_examples(negotiation, WarmStartConfig(games=1))[0]
    assert first.role == "seller"
    assert first.prompt == player_messages(negotiation, GameState.start(negotiation.game), "seller", [])
    assert first.record_id == "warm-start/sell-buy/game-0/turn-0"


def test_the_script_answers_offers_at_its_configured_rates():
    negotiation = NegotiationConfig(game_spec("ultimatum"))
    always = warm_start_examples(negotiation, WarmStartConfig(games=20, accept_probability=1.0, reject_probability=0.0))
    # The first mover proposes and the second always accepts: every game is two turns long.
    assert [e.completion.split("ACTION: ")[1] for e in always[:2]][1] == "ACCEPT"
    assert len(always) == 40
    never = warm_start_examples(negotiation, WarmStartConfig(games=20, accept_probability=0.0, reject_probability=0.0))
    assert not any("ACCEPT" in e.completion or "REJECT" in e.completion for e in never)
    assert len(never) == 20 * negotiation.game.max_turns


@pytest.mark.parametrize("accept, reject", [(-0.1, 0.0), (0.8, 0.3)])
def test_bad_rates_are_refused(accept, reject):
    with pytest.raises(ValueError, match="sum to at most 1"):
        WarmStartConfig(accept_probability=accept, reject_probability=reject)


def test_bad_sizes_are_refused():
    with pytest.raises(ValueError, match="games must be >= 0"):
        WarmStartConfig(games=-1)
    with pytest.raises(ValueError, match="learning_rate > 0"):
        WarmStartConfig(learning_rate=0.0)


class AdapterRecordingPool(SharedModelPool):
    """Fake players that take adapters by name only, remembering which folder each version came from."""

    def __init__(self, **players: list[str]) -> None:
        super().__init__(FakeListChatModel(responses=["ACTION: REJECT"]),
                         {role.replace("_", "-"): FakeListChatModel(responses=lines) for role, lines in players.items()})
        self.folders: dict[str, Path] = {}

    def _load(self, role: str, version: str, adapter_dir: Path) -> None:
        self.folders[version] = adapter_dir

    def _unload(self, version: str) -> None:
        self.folders.pop(version)


def test_selfplay_warm_starts_every_role_then_each_seat_goes_on_from_its_own_adapter(tiny_model_dir, tmp_path):
    pool = AdapterRecordingPool(seller=["Here. ACTION: PROPOSE price=70"], buyer=["Deal. ACTION: ACCEPT"],
                                frozen_base=["No. ACTION: REJECT"])
    config = SelfPlayConfig(
        game="sell-buy", games=2, eval_games=2, iterations=1, curation=CurationConfig(keep="won"), warm_start=WarmStartConfig(games=2),
        lora=LoraTrainingConfig(rank=4, alpha=8, max_steps=1, batch_size=4), model_dir=tiny_model_dir,
        run_dir=tmp_path / "run",
    )
    report = SelfPlayRun(config, pool=pool).run()

    warm = tmp_path / "run" / "adapters" / "it0" / WARM_START
    assert report.training[0]["role"] == WARM_START and report.training[0]["examples"] > 0
    assert pool.folders[pool.registry.current(FROZEN_BASE)] == warm  # the frozen opponent never trains
    # The seller won every self-play game (70 > 50), so only it learned, going on from the warm start.
    seller = tmp_path / "run" / "adapters" / "it1" / "seller"
    assert pool.folders[pool.registry.current("seller")] == seller
    assert AdapterManifest.load(seller).parent == str(warm)
    assert pool.folders[pool.registry.current("buyer")] == warm
    assert [(r.iteration, r.pairing, r.seat) for r in report.results] == [
        (0, "base vs base", "seller"), (0, "base vs base", "buyer"),
        (1, "trained seller vs frozen base", "seller"), (1, "trained buyer vs frozen base", "buyer"),
    ]
    trained_seller = report.results[2]
    assert trained_seller.win_rate == 0.0 and trained_seller.deal_rate == 0.0  # the frozen buyer only rejects


def test_the_ucb_league_draws_opponents_from_every_version_and_scores_robustness(tiny_model_dir, tmp_path):
    # Against the frozen base (which accepts anything) each seat wins; against the other
    # seat's latest version nobody ever closes: that version beats the learner every game.
    pool = AdapterRecordingPool(seller=["Here. ACTION: PROPOSE price=70"], buyer=["Low. ACTION: PROPOSE price=10"],
                                frozen_base=["Fine. ACTION: ACCEPT"])
    config = SelfPlayConfig(
        game="sell-buy", games=16, eval_games=2, iterations=3, curation=CurationConfig(keep="won"), warm_start=WarmStartConfig(games=2),
        league="ucb", league_block=8, league_c=0.5, robustness_games=2,
        lora=LoraTrainingConfig(rank=4, alpha=8, max_steps=1, batch_size=4), model_dir=tiny_model_dir,
        run_dir=tmp_path / "run",
    )
    report = SelfPlayRun(config, pool=pool).run()
    first, second = report.league["it1"], report.league["it2"]
    # iteration 1: the other seat has only its base; both seats beat it and train
    assert first["seller"] == {"base": {"games": 8, "opponent_won": 0.0}}
    # iteration 2: its iteration-1 version joined; it beats the learner, so UCB gives it more games
    assert set(second["seller"]) == {"base", "it1"} and second["seller"]["it1"]["opponent_won"] == 1.0
    assert second["seller"]["it1"]["games"] > second["seller"]["base"]["games"] > 0
    assert sum(v["games"] for seat in second.values() for v in seat.values()) == config.games
    # iteration 3: the earlier version is served under its own role, beside the latest
    assert pool.folders[pool.registry.current("buyer-it1")] == tmp_path / "run" / "adapters" / "it1" / "buyer"
    assert set(report.league["it3"]["buyer"]) == {"base", "it1", "it2"}
    # robustness: each final seat against every version of the other seat
    assert {(r.seat, r.pairing, r.opponent) for r in report.robustness} == {
        (seat, f"vs {other} {v}", v) for seat, other in (("seller", "buyer"), ("buyer", "seller"))
        for v in ("base", "it1", "it2", "it3")}
    assert {r.opponent for r in report.results} == {FROZEN_BASE}
    assert (tmp_path / "run" / "selfplay_report.png").is_file()
