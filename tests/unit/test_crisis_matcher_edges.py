"""Edges of the crisis matcher that mutation testing showed no test watched (docs/safety.md,
"Mutation testing"): clause openers, the sentence-break filter of idioms, the censored-word minimum,
doubled letters and one-edit misspellings, and the curation helper for plain_words.

Every detector here is built inside its test, never shared with another test: the matcher memoises
each token's reading, and mutmut picks the tests to run against a mutant by which functions each
test reached, so a test that only ever met warm readings would never be run against a mutant of the
code that makes them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.crisis_detection import evaluate, load_phrases
from coachbot.care.trigger_match import short_slips, weak_key
from coachbot.care.triggers import TriggerSet, load_default_triggers

DIALOGS = Path(__file__).resolve().parents[2] / "dialogs"
SAFETY_CRITICAL = ("overdose", "self_harm", "crisis", "abuse", "red_flag_emergency")


def small_file(**extra: Any) -> dict[str, Any]:
    """A few rules of every kind; abuse is not a kind with guarded slip readings."""
    data: dict[str, Any] = {
        "version": 1,
        "rules": [
            {"id": "c.suicide", "kind": "crisis", "keywords": ["suicide"]},
            {"id": "c.die", "kind": "crisis", "phrases": ["want to die"]},
            {"id": "c.kill", "kind": "crisis", "phrases": ["kill myself"]},
            {"id": "c.go_on", "kind": "crisis", "phrases": ["can not go on $"]},
            {"id": "a.kicks", "kind": "abuse", "phrases": ["he kicks me"]},
            {"id": "a.kill", "kind": "abuse", "phrases": ["he will kill me"]},
            {"id": "e.chest", "kind": "red_flag_emergency", "phrases": ["chest pain"]},
            {"id": "u.fever", "kind": "red_flag_urgent", "keywords": ["fever"]},
        ],
        "aliases": {"cant": "can not"},
    }
    data.update(extra)
    return data


def rules(triggers: TriggerSet, text: str) -> list[str]:
    return [d.rule for d in triggers.detect_all(text)]


# ---------------------------------------------------------------- the whole corpus, on a fresh detector


def test_a_freshly_built_detector_catches_every_safety_critical_phrase_of_the_corpus() -> None:
    fresh = load_default_triggers(DIALOGS)
    result = evaluate(fresh, load_phrases())
    assert [(p.kind, p.text) for p in result.misses if p.kind in SAFETY_CRITICAL] == []
    assert result.overall_recall >= 0.97
    assert result.serious_false_alarm_rate <= 0.05, [p.text for p in result.serious_false_alarms]
    assert result.false_alarm_rate <= 0.10, [p.text for p in result.false_alarms]


# ---------------------------------------------------------------- clause openers and sentence breaks


def test_clause_openers_catch_i_cant_go_on_please_help() -> None:
    fresh = load_default_triggers(DIALOGS)
    for text in ["i cant go on please help", "i cant go on honestly", "i cant go on but thanks",
                 "i cant go on because it hurts", "i cant go on so tired", "i cant go on i give up"]:
        found = fresh.detect(text)
        assert found is not None and found.kind == "crisis", text


def test_an_end_of_sentence_phrase_before_an_ordinary_word_does_not_fire() -> None:
    triggers = TriggerSet.from_mapping(small_file())
    assert rules(triggers, "i cant go on please") == ["c.go_on"]
    assert rules(triggers, "i cant go on holiday") == []


def test_an_idiom_never_reaches_across_a_sentence_break_to_hide_a_disclosure() -> None:
    exception = {"id": "idiom.laughing", "phrases": ["kill myself laughing"], "suppresses": ["c.kill"]}
    triggers = TriggerSet.from_mapping(small_file(exceptions=[exception]))
    assert rules(triggers, "that show, i nearly kill myself laughing") == []
    assert rules(triggers, "i want to kill myself. laughing is beyond me now") == ["c.kill"]


# ---------------------------------------------------------------- misspelt and censored words


def test_a_censored_three_letter_word_is_read() -> None:
    triggers = TriggerSet.from_mapping(small_file())
    assert rules(triggers, "i want to d*e") == ["c.die"]
    assert rules(triggers, "i want to d**") == [], "two stars hide too much to read"
    assert rules(triggers, "he will k*i*l me") == [], "two stars hide too much to read"
    assert rules(triggers, "he will k*ll me") == ["a.kill"]


@pytest.mark.parametrize("text", ["he kickks me", "he will kil me", "he will kiill me"])
def test_a_doubled_or_undoubled_letter_in_a_short_word_is_read(text: str) -> None:
    triggers = TriggerSet.from_mapping(small_file())
    assert [r for r in rules(triggers, text) if r.startswith("a.")] != [], text


@pytest.mark.parametrize("text", ["suicde", "suicidr", "suicibe", "siucide", "suiciide", "usicide"])
def test_a_long_word_one_edit_away_is_read(text: str) -> None:
    triggers = TriggerSet.from_mapping(small_file())
    assert rules(triggers, text) == ["c.suicide"], text


@pytest.mark.parametrize("text", ["asuicde", "uicidex", "suicidexx", "sucde"])
def test_a_long_word_two_edits_away_is_not_read(text: str) -> None:
    triggers = TriggerSet.from_mapping(small_file())
    assert rules(triggers, text) == [], text


def test_a_plain_word_is_never_read_as_a_misspelling() -> None:
    triggers = TriggerSet.from_mapping(small_file(plain_words=["suicida"]))
    assert rules(triggers, "suicida") == []
    assert rules(triggers, "suicid") == ["c.suicide"]


# ---------------------------------------------------------------- the curation helper for plain_words


def test_misreadings_name_the_trigger_words_a_real_word_would_be_taken_for() -> None:
    lexicon = TriggerSet.from_mapping(small_file())._matcher.lexicon
    assert lexicon.misreadings("suicida") == {"suicide"}
    assert lexicon.misreadings("suicides") == set(), "an inflection is read as the word, rightly"
    assert lexicon.misreadings("kiill") == {"kill"}
    assert lexicon.misreadings("mill") == {"kill"}, "a real word one slip from a short crisis word"
    assert lexicon.misreadings("kil") == set(), "a word the trigger word starts with is left out"
    assert lexicon.misreadings("garden") == set()


def test_misreadings_leave_out_sound_alikes_but_name_short_slips() -> None:
    lexicon = TriggerSet.from_mapping(small_file(sound_alikes={"dye": "die"}))._matcher.lexicon
    assert lexicon.misreadings("dye") == set(), "a sound-alike is a real word on purpose"
    assert lexicon.misreadings("dia") == {"die"}


# ---------------------------------------------------------------- the slips a short crisis word may suffer


def test_the_slips_of_a_short_word_are_a_near_key_a_vowel_a_swap_or_a_dropped_later_letter() -> None:
    assert short_slips("die") == {
        "cie", "eie", "fie", "rie", "sie", "xie",  # a key next to "d"
        "dje", "dke", "dae", "dee", "doe", "due", "dye", "dii",  # a key next to "i", or another vowel
        "dia", "dio", "diu", "diy", "did", "dir", "dis", "diw",  # the same for "e"
        "ide", "dei",  # two letters swapped
        "de", "di",  # a letter left out, never the first
    }


def test_a_consonant_is_only_slipped_to_a_neighbouring_key() -> None:
    assert short_slips("cut") & {"aut", "eut", "iut", "out", "yut"} == set()
    assert {"xut", "dut", "fut", "vut"} <= short_slips("cut")


def test_letters_next_to_a_doubled_one_are_swapped_too() -> None:
    slips = short_slips("seep")
    assert "sepe" in slips and "esep" in slips


def test_only_lenient_latin_words_of_three_to_five_letters_get_slip_readings() -> None:
    assert weak_key(("w", "kill"), 3, 6) == ("s", "kill")
    assert weak_key(("w", "die"), 3, 6) == ("s", "die")
    assert weak_key(("w", "dying"), 3, 6) == ("s", "dying")
    assert weak_key(("w", "poison"), 3, 6) is None, "six letters: the one-edit reading covers it"
    assert weak_key(("w", "me"), 3, 6) is None
    assert weak_key(("x", "kill"), 3, 6) is None, "a rule with fuzzy: false"
    assert weak_key(("w", "żyć"), 3, 6) is None, "not a Latin word"
    assert weak_key(("w", "b12"), 3, 6) is None
    assert weak_key(("p", "kill"), 3, 6) is None


def test_a_rule_that_says_fuzzy_false_reads_only_its_exact_words() -> None:
    data = small_file()
    data["rules"] += [{"id": "u.strict", "kind": "red_flag_urgent", "fuzzy": False,
                       "phrases": ["pins and needles", "numbness"]}]
    triggers = TriggerSet.from_mapping(data)
    assert rules(triggers, "pins and needles") == ["u.strict"]
    assert rules(triggers, "numbness") == ["u.strict"]
    assert rules(triggers, "pinns and needles") == [], "no doubled-letter reading"
    assert rules(triggers, "numbess") == [], "no one-edit reading"


def test_a_number_slot_is_filled_by_any_number() -> None:
    data = small_file()
    data["rules"] += [{"id": "u.temperature", "kind": "red_flag_urgent",
                       "phrases": ["temperature ..2 # degrees"]}]
    triggers = TriggerSet.from_mapping(data)
    assert rules(triggers, "my temperature is 39 degrees") == ["u.temperature"]
    assert rules(triggers, "my temperature is high degrees") == []


def test_a_plain_word_is_never_a_slip_reading_either() -> None:
    assert rules(TriggerSet.from_mapping(small_file()), "mill myself") == ["c.kill"]
    assert rules(TriggerSet.from_mapping(small_file(plain_words=["mill"])), "mill myself") == []


def test_a_trigger_file_with_only_short_words_loads_and_matches() -> None:
    data = small_file()
    data["rules"] = [{"id": "c.die", "kind": "crisis", "phrases": ["want to die"]},
                     {"id": "a.hits", "kind": "abuse", "phrases": ["he hits me"]},
                     {"id": "e.chest", "kind": "red_flag_emergency", "phrases": ["chest pain"]},
                     {"id": "u.hot", "kind": "red_flag_urgent", "keywords": ["fever"]}]
    triggers = TriggerSet.from_mapping(data)
    assert rules(triggers, "i want to die") == ["c.die"]
    assert rules(triggers, "chestt pain") == ["e.chest"]


def test_a_keyword_alone_is_never_read_from_a_slip() -> None:
    data = small_file()
    data["rules"] += [{"id": "c.kms", "kind": "crisis", "keywords": ["kms"]}]
    triggers = TriggerSet.from_mapping(data)
    assert rules(triggers, "kms") == ["c.kms"]
    assert rules(triggers, "kns") == [], "one slip of a one-word trigger is too weak to read"


def test_one_end_of_a_phrase_must_be_written_as_such() -> None:
    triggers = TriggerSet.from_mapping(small_file())
    assert rules(triggers, "i want to dei") == ["c.die"]
    assert rules(triggers, "i wamt to die") == ["c.die"]
    assert rules(triggers, "i wamt to dei") == [], "both ends slipped: not read"


def test_a_slip_in_a_middle_word_is_read_between_two_written_ends() -> None:
    data = small_file()
    data["rules"] += [{"id": "c.pills", "kind": "crisis", "phrases": ["take all pills"]}]
    triggers = TriggerSet.from_mapping(data)
    assert rules(triggers, "i will take alk pills") == ["c.pills"]


def test_an_idiom_that_ends_a_sentence_still_hides_its_own_words() -> None:
    exception = {"id": "idiom.laughing", "phrases": ["kill myself laughing"], "suppresses": ["c.kill"]}
    triggers = TriggerSet.from_mapping(small_file(exceptions=[exception]))
    assert rules(triggers, "i nearly kill myself laughing. what a show") == []


def test_a_dose_of_up_to_six_digits_is_read_and_a_longer_number_is_not() -> None:
    data = small_file()
    data["rules"] += [{"id": "o.took", "kind": "overdose", "phrases": ["took #min8 pills"]}]
    triggers = TriggerSet.from_mapping(data)
    assert rules(triggers, "i took 20 pills") == ["o.took"]
    assert rules(triggers, "i took 8 pills") == ["o.took"], "at least 8 includes 8"
    assert rules(triggers, "i took 7 pills") == []
    assert rules(triggers, "i took 100000 pills") == ["o.took"]
    assert rules(triggers, "i took 1000000 pills") == [], "seven digits: a phone number or junk"


def test_a_word_as_long_as_the_prefix_index_key_is_read_by_its_prefix() -> None:
    data = small_file()
    data["rules"] += [{"id": "u.numb", "kind": "red_flag_urgent", "phrases": ["numb* leg"]}]
    triggers = TriggerSet.from_mapping(data)
    assert rules(triggers, "numb leg") == ["u.numb"]
    assert rules(triggers, "numbness leg") == ["u.numb"]
