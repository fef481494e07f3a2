"""Negotiation: every referee rule, exact payoffs, both seats; whole games on fake models."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from langchain_core.language_models import FakeListChatModel

from moot.graphs.negotiation import build_negotiation_graph, negotiation_outcome
from moot.nodes import SharedModelPool
from moot.nodes.negotiation import NegotiationConfig
from moot.nodes.negotiation_rules import GameState, apply, game_spec, parse_action, utilities
from moot.training import negotiation_training_sets


def play(game: str, *messages: tuple[str, str], **overrides) -> GameState:
    state = GameState.start(game_spec(game, **overrides))
    for player, text in messages:
        assert state.to_move == player, "test scripts must follow the turn order"
        apply(state, player, parse_action(state.spec, player, text))
    return state


# -- sell & buy -----------------------------------------------------------------------------

def test_sell_buy_deal_pays_exactly():
    state = play("sell-buy", ("seller", "ACTION: PROPOSE price=55"), ("buyer", "ok ACTION: ACCEPT"))
    assert state.deal is not None and state.holdings["buyer"] == {"X": 1, "ZUP": 45}
    assert utilities(state) == {"seller": 15.0, "buyer": 5.0}


def test_buyer_may_propose_and_seller_accept():
    state = play("sell-buy", ("seller", "ACTION: PROPOSE price=70"), ("buyer", "ACTION: PROPOSE price=50"),
                 ("seller", "ACTION: ACCEPT"))
    assert utilities(state) == {"seller": 10.0, "buyer": 10.0}


def test_buyer_cannot_offer_more_than_it_holds():
    state = play("sell-buy", ("seller", "ACTION: REJECT"), ("buyer", "ACTION: PROPOSE price=150"))
    assert state.offer is None and state.invalid == {"seller": 0, "buyer": 1}


def test_seller_cannot_ask_more_than_the_buyer_holds():
    state = play("sell-buy", ("seller", "ACTION: PROPOSE price=101"))
    assert state.invalid["seller"] == 1


def test_no_deal_pays_nothing_after_max_turns():
    turns = [("seller" if i % 2 == 0 else "buyer", "ACTION: REJECT") for i in range(10)]
    state = play("sell-buy", *turns)
    assert state.over and state.deal is None and utilities(state) == {"seller": 0.0, "buyer": 0.0}


# -- accept rules and malformed actions (every game) ---------------------------------------

@pytest.mark.parametrize("game", ["resource-exchange", "sell-buy", "ultimatum"])
def test_accept_without_a_standing_offer_is_invalid_and_changes_nothing(game):
    spec = game_spec(game)
    first = spec.players[0]
    state = play(game, (first, "ACTION: ACCEPT"))
    assert state.invalid[first] == 1 and state.deal is None and state.holdings == spec.holdings


@pytest.mark.parametrize("text", ["", "I agree", "ACTION: HAGGLE", "ACTION: PROPOSE", "ACTION: PROPOSE price=abc"])
def test_malformed_actions_count_as_rejections_and_withdraw_the_offer(text):
    state = play("sell-buy", ("seller", "ACTION: PROPOSE price=55"), ("buyer", text))
    assert state.offer is None and state.invalid["buyer"] == 1 and state.turn == 2
    # The seller cannot accept anything now: there is no standing offer.
    apply(state, "seller", parse_action(state.spec, "seller", "ACTION: ACCEPT"))
    assert state.deal is None and state.invalid["seller"] == 1


def test_a_player_cannot_accept_its_own_offer():
    state = GameState.start(game_spec("sell-buy"))
    apply(state, "seller", parse_action(state.spec, "seller", "ACTION: PROPOSE price=55"))
    state.turn += 1  # let the seller move again
    ruled = apply(state, "seller", parse_action(state.spec, "seller", "ACTION: ACCEPT"))
    assert ruled.kind == "invalid" and state.deal is None


def test_the_last_action_line_counts():
    action = parse_action(game_spec("sell-buy"), "buyer", "ACTION: ACCEPT\nActually no.\nACTION: PROPOSE price=52")
    assert action.kind == "propose" and action.offer.give == {"ZUP": 52}


# -- resource exchange ----------------------------------------------------------------------

def test_resource_exchange_trade_moves_exactly_what_was_offered():
    state = play("resource-exchange", ("player-1", "ACTION: PROPOSE give X=10 Y=0 get X=0 Y=6"), ("player-2", "ACTION: ACCEPT"))
    assert state.holdings == {"player-1": {"X": 15, "Y": 11}, "player-2": {"X": 15, "Y": 19}}
    assert utilities(state) == {"player-1": 26.0, "player-2": 34.0}


def test_resource_exchange_refuses_offers_beyond_holdings_on_either_side():
    state = play("resource-exchange", ("player-1", "ACTION: PROPOSE give X=26 Y=0 get X=0 Y=1"))
    assert state.invalid["player-1"] == 1
    state = play("resource-exchange", ("player-1", "ACTION: PROPOSE give X=1 Y=0 get X=0 Y=26"))
    assert state.invalid["player-1"] == 1
    state = play("resource-exchange", ("player-1", "ACTION: PROPOSE give Z=1 get X=1"))
    assert state.invalid["player-1"] == 1


@given(give_x=st.integers(0, 40), give_y=st.integers(0, 40), get_x=st.integers(0, 40), get_y=st.integers(0, 40),
       accept=st.booleans())
def test_resource_totals_are_conserved_and_holdings_never_go_negative(give_x, give_y, get_x, get_y, accept):
    state = play("resource-exchange", ("player-1", f"ACTION: PROPOSE give X={give_x} Y={give_y} get X={get_x} Y={get_y}"),
                 ("player-2", "ACTION: ACCEPT" if accept else "ACTION: REJECT"))
    for resource in ("X", "Y"):
        assert sum(h[resource] for h in state.holdings.values()) == 30
    assert all(q >= 0 for h in state.holdings.values() for q in h.values())
    legal = give_x <= 25 and give_y <= 5 and get_x <= 5 and get_y <= 25
    assert (state.deal is not None) == (legal and accept)


# -- ultimatum ------------------------------------------------------------------------------

def test_ultimatum_split_from_either_seat():
    state = play("ultimatum", ("player-1", "ACTION: PROPOSE mine=70 yours=30"), ("player-2", "ACTION: ACCEPT"))
    assert utilities(state) == {"player-1": 70.0, "player-2": 30.0}
    state = play("ultimatum", ("player-1", "ACTION: REJECT"), ("player-2", "ACTION: PROPOSE mine=45 yours=55"),
                 ("player-1", "ACTION: ACCEPT"))
    assert utilities(state) == {"player-1": 55.0, "player-2": 45.0}


def test_ultimatum_splits_must_use_the_whole_pot_and_no_deal_loses_it():
    state = play("ultimatum", ("player-1", "ACTION: PROPOSE mine=70 yours=20"))
    assert state.invalid["player-1"] == 1
    turns = [("player-1" if i % 2 == 0 else "player-2", "ACTION: REJECT") for i in range(8)]
    assert utilities(play("ultimatum", *turns)) == {"player-1": 0.0, "player-2": 0.0}


@given(mine=st.integers(-50, 150))
def test_ultimatum_payoffs_always_sum_to_the_pot_or_zero(mine):
    state = play("ultimatum", ("player-1", f"ACTION: PROPOSE mine={mine} yours={100 - mine}"), ("player-2", "ACTION: ACCEPT"))
    total = sum(utilities(state).values())
    assert total == (100.0 if 0 <= mine <= 100 else 0.0)


def test_generalization_numbers_are_one_flag_away():
    assert game_spec("ultimatum", "sirius-generalization").holdings["player-1"]["ZUP"] == 1000
    assert game_spec("resource-exchange", "sirius-generalization").holdings["player-1"] == {"X": 35, "Y": 15}
    assert game_spec("sell-buy", max_turns=4).max_turns == 4
    with pytest.raises(ValueError, match="unknown game"):
        game_spec("chess")


# -- whole games on fake chat models ---------------------------------------------------------

def fake_pool(**scripts: list[str]) -> SharedModelPool:
    return SharedModelPool(FakeListChatModel(responses=["ACTION: REJECT"]),
                           {role.replace("_", "-"): FakeListChatModel(responses=lines) for role, lines in scripts.items()})


def test_a_whole_game_ends_on_accept_with_turns_recorded():
    pool = fake_pool(seller=["80 please. ACTION: PROPOSE price=80", "Fine, 58. ACTION: PROPOSE price=58"],
                     buyer=["Too much. ACTION: PROPOSE price=45", "Deal. ACTION: ACCEPT"])
    result = build_negotiation_graph(pool, NegotiationConfig(game_spec("sell-buy"))).invoke({})
    assert [t["action"] for t in result["turns"]] == ["propose", "propose", "propose", "accept"]
    assert result["utilities"] == {"seller": 18.0, "buyer": 2.0} and result["deal"] is True


def test_a_game_of_garbage_ends_at_max_turns_without_crashing():
    pool = fake_pool(player_1=["blah"], player_2=["ACTION: ACCEPT"])
    result = build_negotiation_graph(pool, NegotiationConfig(game_spec("ultimatum"))).invoke({})
    assert len(result["turns"]) == 8 and not any(t["valid"] for t in result["turns"])
    assert result["deal"] is False and result["utilities"] == {"player-1": 0.0, "player-2": 0.0}


def test_seats_can_be_played_by_other_roles_and_turns_are_logged(tmp_path):
    from moot.stores import ExperienceLibrary, ExperienceLogger

    library = ExperienceLibrary(tmp_path / "lib")
    pool = fake_pool(seller=["ACTION: PROPOSE price=55"], frozen_base=["ACTION: ACCEPT"])
    config = NegotiationConfig(game_spec("sell-buy"), seats={"buyer": "frozen-base"})
    with ExperienceLogger(library, annotate=negotiation_outcome) as logger:
        build_negotiation_graph(pool, config).invoke({}, {"callbacks": [logger], "metadata": {"episode": "g"}})
    records = {r["seat"]: r for r in library.find(episode="g")}
    assert records["buyer"]["role"] == "frozen-base" and records["seller"]["role"] == "seller"
    assert records["seller"]["won"] is True and records["seller"]["utility"] == 15.0
    sets = negotiation_training_sets(library.find(episode="g"), keep="won")
    assert list(sets) == ["seller"]
    assert set(negotiation_training_sets(library.find(episode="g"), keep="deal")) == {"seller", "frozen-base"}
