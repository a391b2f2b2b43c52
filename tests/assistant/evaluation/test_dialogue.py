"""Dialogue-act evaluation: the SIMMC mapping and macro-F1 on small inputs, and the whole evaluation on the real
shared data (skipped when ../shared/data is absent), asserting the issue's targets the head reaches and floors
just below today's numbers for the two it does not reach yet (ESCI 0.98, SIMMC 0.90)."""
from __future__ import annotations

import json

import pytest

from assistant.evaluation.cli import main
from assistant.evaluation.dialogue import format_table, load_simmc, macro_f1


def _turn(text, act, system_objects):
    return {"transcript": text, "transcript_annotated": {"act": act},
            "system_transcript_annotated": {"act_attributes": {"objects": system_objects}}}


def test_simmc_turns_are_mapped_and_shown_after_a_system_turn_showed_items(tmp_path):
    folder = tmp_path / "simmc2.1-mini"
    folder.mkdir()
    dialogue = [_turn("any plain jeans?", "REQUEST:GET", []), _turn("something floral", "INFORM:REFINE", [3]),
                _turn("what's it rated?", "ASK:GET", []), _turn("the grey one", "INFORM:DISAMBIGUATE", []),
                _turn("add it", "REQUEST:ADD_TO_CART", [])]
    (folder / "simmc2.1_dials_dstc11_mini.json").write_text(json.dumps({"dialogue_data": [{"dialogue": dialogue}]}))
    assert load_simmc(tmp_path) == [("any plain jeans?", "search", False), ("something floral", "refine", False),
                                    ("what's it rated?", "ask_product", True), ("the grey one", "ask_product", True),
                                    ("add it", "cart", True)]


def test_macro_f1_averages_over_the_expected_acts():
    assert macro_f1(["search", "search", "cart"], ["search", "search", "cart"]) == 1.0
    assert macro_f1(["search", "cart"], ["search", "search"]) == pytest.approx((2 / 3 + 0) / 2)


def test_missing_data_is_a_clear_error(tmp_path, capsys):
    assert main(["dialogue", "--data", str(tmp_path)]) == 2
    assert "not found" in capsys.readouterr().err


@pytest.mark.slow
def test_dialogue_evaluation_on_the_real_data(shared_data, capsys):
    assert main(["dialogue", "--data", str(shared_data), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    with capsys.disabled():
        print("\n" + format_table(result))
    targets, sets = result["targets"], result["sets"]
    assert result["training"]["holdout"] is True and result["training"]["simmc_used"] is False
    assert targets["bitext"]["shown=False"] >= 0.95 and targets["bitext"]["shown=True"] >= 0.95
    assert targets["clinc"]["shown=False"] >= 0.90 and targets["clinc"]["shown=True"] >= 0.90
    assert targets["clinc"]["in ESCI shop"] >= 0.90 and targets["clinc"]["in demo shop"] >= 0.90
    # Not at the targets yet (0.98, 0.90): floors a couple of messages below today's numbers (ESCI 0.944
    # alone, 0.953 in its own shop; SIMMC 0.807 through the session state, 0.739 for the classifier alone).
    assert targets["esci"]["shown=False"] >= 0.93 and targets["esci"]["in its own shop"] >= 0.94
    assert targets["simmc"]["context"] >= 0.79 and targets["simmc"]["message alone"] >= 0.72
    slots = sets["simmc_state"]["slots"]
    assert slots["modelled"]["f1"] >= 0.62 and slots["all"]["f1"] >= 0.55 and slots["all"]["gold"] == 120
    assert sets["shop"]["accuracy"] >= 0.85 and sets["simmc"]["n"] == 88 and sets["esci"]["n"] == 107


def test_simmc_through_the_session_state_and_slot_f1(tmp_path):
    """A two-dialogue SIMMC file: the showroom's ontology becomes the catalog; search or refine follows the state; a
    pick or a cart request applies no slots; carried slots count (SIMMC's values are the standing request)."""
    from assistant.dialogue.acts import ActClassifier
    from assistant.evaluation.simmc import evaluate_simmc

    def turn(text, act, slots, system_slots=None, objects=()):
        return {"transcript": text, "transcript_annotated": {"act": act, "act_attributes": {"slot_values": slots}},
                "system_transcript_annotated": {"act_attributes": {"slot_values": system_slots or {},
                                                                   "objects": list(objects)}}}

    dialogues = [{"dialogue": [
        turn("Do you have any plain hoodies?", "REQUEST:GET", {"type": "hoodie", "pattern": "plain"},
             {"type": "hoodie"}, [1, 2]),
        turn("Anything from North Lodge?", "INFORM:REFINE", {"type": "hoodie", "pattern": "plain", "brand": "North Lodge"},
             {"type": "hoodie"}, [3]),
        turn("Can you show me jeans instead?", "REQUEST:GET", {"type": "jeans"}, {"type": "jeans"}, [4, 5]),
        turn("Add the first one to my cart.", "REQUEST:ADD_TO_CART", {}),
    ]}, {"dialogue": [turn("I want a black coat.", "REQUEST:GET", {"type": "coat", "color": "black"})]}]
    folder = tmp_path / "simmc2.1-mini"
    folder.mkdir()
    (folder / "simmc2.1_dials_dstc11_mini.json").write_text(json.dumps({"dialogue_data": dialogues}))
    result = evaluate_simmc(ActClassifier.load(), tmp_path)
    assert result["acts"]["n"] == 5
    assert result["acts"]["accuracy"] == 1.0, result["acts"]["errors"]
    assert result["slots"]["all"]["gold"] == 8 and result["slots"]["all"]["f1"] == 1.0, result["slots"]["errors"]
