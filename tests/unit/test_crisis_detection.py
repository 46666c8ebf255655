"""Hazard controls for crisis, abuse and red-flag detection in free text.

Each test is named after the hazard it controls, so the hazard log can point at it. Figures over
the labelled phrase set come from `bench.crisis_detection`, the same code that prints them.
"""

from __future__ import annotations

import pathlib
import random
import statistics
import string
import time
import unicodedata
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.crisis_detection import (
    HELDOUT,
    NONE,
    DetectorFailed,
    Phrase,
    evaluate,
    load_phrases,
    noise_messages,
)
from coachbot.care import triggers as triggers_module
from coachbot.care.triggers import (
    FAILSAFE_RULE,
    KINDS,
    Detection,
    TriggerFileError,
    TriggerSet,
    load_default_triggers,
)
from coachbot.spec.yaml_source import load_safe

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAFETY_CRITICAL = ("overdose", "self_harm", "crisis", "abuse", "red_flag_emergency")
FULL_WIDTH_SUICIDE = "SUICIDE".translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
# Everyday idioms the trigger file deliberately lets through; none may hide a real disclosure.
IDIOMS = [
    "I cut myself shaving",
    "I burnt myself on the oven",
    "I nearly killed myself laughing",
    "I nearly wet myself laughing",
    "had a lump in my throat",
    "got a lump sum",
    "cabin fever",
    "lifted a chest of drawers and it hurt",
    "the physio was hopeless",
    "these stretches are pointless",
    "my partner pushed me to see the GP",
    "I'm trying to lose weight",
    "my mum had cancer",
    "my neighbour had a fall",
    "I fell asleep on the sofa",
    "I ran 5 kms",
    "I had my temperature checked and it was fine",
]


@pytest.fixture(scope="module")
def triggers() -> TriggerSet:
    return load_default_triggers(ROOT / "dialogs")


def kinds(triggers: TriggerSet, text: str) -> list[str]:
    return [d.kind for d in triggers.detect_all(text)]


def minimal_file() -> dict[str, Any]:
    return {
        "version": 1,
        "rules": [
            {"id": "c.suicide", "kind": "crisis", "keywords": ["suicide"]},
            {"id": "a.hits", "kind": "abuse", "phrases": ["he ..2 hits me"]},
            {"id": "e.chest", "kind": "red_flag_emergency", "phrases": ["chest pain"]},
            {"id": "u.fever", "kind": "red_flag_urgent", "keywords": ["fever"]},
        ],
    }


# ---------------------------------------------------------------- the labelled phrase set


def test_phrase_set_is_large_and_varied_enough_to_trust() -> None:
    phrases = load_phrases()
    labels = [p.kind for p in phrases]
    assert len(phrases) - labels.count(NONE) >= 300
    assert labels.count(NONE) >= 150
    for kind in KINDS:
        assert labels.count(kind) >= 10, kind
    assert len({p.text for p in phrases}) == len(phrases), "duplicate phrasings inflate the figures"


def test_held_out_phrases_are_separate_from_the_tuning_set() -> None:
    heldout = load_phrases(HELDOUT)
    labels = [p.kind for p in heldout]
    assert len(heldout) - labels.count(NONE) >= 60
    assert labels.count(NONE) >= 40
    tuned = {p.text.casefold() for p in load_phrases()}
    assert [p.text for p in heldout if p.text.casefold() in tuned] == []


def test_benign_everyday_talk_rarely_gets_a_crisis_or_999_answer(triggers: TriggerSet) -> None:
    result = evaluate(triggers, load_phrases())
    assert result.serious_false_alarm_rate <= 0.05, [p.text for p in result.serious_false_alarms]


@pytest.mark.detector_failure
def test_a_detector_crash_fails_the_figures_instead_of_passing_for_a_catch(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    broken = TriggerSet.from_mapping(minimal_file())

    class Exploding:
        def scan(self, *args: object) -> object:
            raise RuntimeError("bug")

    monkeypatch.setattr(broken, "_matcher", Exploding())
    assert [d.rule for d in broken.detect_all("I want to die")] == [FAILSAFE_RULE]
    with pytest.raises(DetectorFailed):
        evaluate(broken, [Phrase("I want to die", "crisis")])


def test_every_crisis_abuse_and_emergency_phrasing_in_the_set_is_caught(triggers: TriggerSet) -> None:
    result = evaluate(triggers, load_phrases())
    missed = [(p.kind, p.text) for p in result.misses if p.kind in SAFETY_CRITICAL]
    assert missed == []
    for kind in SAFETY_CRITICAL:
        assert result.recall(kind) == 1.0


def test_overall_recall_is_at_least_97_percent(triggers: TriggerSet) -> None:
    result = evaluate(triggers, load_phrases())
    assert result.overall_recall >= 0.97, [(p.kind, p.text) for p in result.misses]


def test_false_alarms_on_ordinary_chat_stay_at_or_below_10_percent(triggers: TriggerSet) -> None:
    result = evaluate(triggers, load_phrases())
    assert result.false_alarm_rate <= 0.10, [p.text for p in result.false_alarms]


# ---------------------------------------------------------------- crisis wording


@pytest.mark.parametrize(
    "text",
    [
        "suicde",
        "sucidal",
        "suiside",
        "im suicidle",
        "su1c1de",
        "s*icide",
        "SUICIDE",
        "Su\u00efcide",
        FULL_WIDTH_SUICIDE,
        "s u i c i d e",
        "s.u.i.c.i.d.e",
        "suiiicide",
        "kil myself",
        "kill myslef",
        "k1ll mys3lf",
        "kill my self",
    ],
)
def test_misspelled_suicide_still_starts_crisis(triggers: TriggerSet, text: str) -> None:
    found = triggers.detect(text)
    assert found is not None and found.kind == "crisis"


@pytest.mark.parametrize(
    "text", ["self harm", "selfharm", "self-harm", "self harming again", "cutting myself", "I burn myself"]
)
def test_self_harm_in_any_spelling_starts_the_self_harm_or_crisis_flow(
    triggers: TriggerSet, text: str
) -> None:
    assert kinds(triggers, text)[:1] in (["self_harm"], ["crisis"])
    assert "crisis" in kinds(triggers, text)


@pytest.mark.parametrize(
    "text",
    [
        "kms",
        "unalive myself",
        "end it all",
        "cant go on",
        "i wanna die",
        "i want 2 die",
        "wanna b dead",
    ],
)
def test_texting_and_slang_for_suicide_start_crisis(triggers: TriggerSet, text: str) -> None:
    assert kinds(triggers, text)[:1] == ["crisis"]


@pytest.mark.parametrize(
    "text",
    [
        "there's no point going on",
        "I'm a burden to my family",
        "everyone would be better off without me",
        "I wish I wouldn't wake up",
        "what's the point in living",
        "I feel hopeless",
        "thoughts that I'd be better off dead",
        "I can't take it anymore",
    ],
)
def test_indirect_hopelessness_and_burden_start_crisis(triggers: TriggerSet, text: str) -> None:
    assert kinds(triggers, text)[:1] == ["crisis"]


@pytest.mark.parametrize(
    "text",
    [
        "my partner hits me",
        "he hurts me when he drinks",
        "I'm scared of him",
        "my husband won't let me see my friends",
        "I was raped",
        "he threatened to kill me",
        "I don't feel safe at home",
    ],
)
def test_abuse_disclosures_are_detected(triggers: TriggerSet, text: str) -> None:
    assert "abuse" in kinds(triggers, text)


def test_crisis_outranks_abuse_and_red_flags_in_the_same_message(triggers: TriggerSet) -> None:
    text = "I fell down the stairs, he hits me, my temperature is 39 and I want to die"
    found = kinds(triggers, text)
    assert found[0] == "crisis"
    assert found == sorted(found, key=KINDS.index)
    assert set(found) == {"crisis", "abuse", "red_flag_emergency", "red_flag_urgent"}
    first = triggers.detect(text)
    assert first is not None and first.kind == "crisis"


def test_an_overdose_taken_outranks_every_other_kind(triggers: TriggerSet) -> None:
    text = "I cut myself, he hits me, my legs are numb, I want to die and I took all my pills"
    found = kinds(triggers, text)
    assert found == sorted(found, key=KINDS.index)
    assert set(found) == set(KINDS) - {"red_flag_urgent"}
    assert KINDS[:3] == ("overdose", "self_harm", "crisis")
    first = triggers.detect(text)
    assert first is not None and first.kind == "overdose"


@pytest.mark.parametrize(
    "text",
    [
        "I swallowed a whole box of ibuprofen",
        "took my entire week of tablets",
        "i took 24 co-codamol",
        "I've overdosed",
        "i od'd on naproxen",
        "necked a bottle of sleeping pills",
        "took too many gabapentin on purpose",
        "i have take many tablet, all of them",
        "I drank bleach",
    ],
)
def test_overdose_already_taken_is_recognised_whatever_the_medicine_or_amount(
    triggers: TriggerSet, text: str
) -> None:
    assert kinds(triggers, text)[:1] == ["overdose"]


@pytest.mark.parametrize(
    "text",
    [
        "I'm thinking about taking an overdose",
        "I overdosed years ago and I feel that low again",
        "I didn't take an overdose, I promise",
    ],
)
def test_an_overdose_not_taken_now_is_a_crisis_not_an_a_and_e_emergency(
    triggers: TriggerSet, text: str
) -> None:
    found = kinds(triggers, text)
    assert "overdose" not in found
    assert found[:1] == ["crisis"] or "didn't" in text


@pytest.mark.parametrize(
    "text",
    [
        "I took 2 paracetamol",
        "took 10mg of amitriptyline last night",
        "I took all my tablets today as prescribed",
        "the pharmacist said not to take more than 8 paracetamol a day",
        "my friend overdosed last year",
    ],
)
def test_an_ordinary_dose_is_not_an_overdose(triggers: TriggerSet, text: str) -> None:
    assert "overdose" not in kinds(triggers, text)


@pytest.mark.parametrize(
    "text", ["I cut myself last night", "i self harmed yesterday", "burnt myself with a lighter on purpose"]
)
def test_self_harm_already_done_is_its_own_kind(triggers: TriggerSet, text: str) -> None:
    assert kinds(triggers, text)[:1] == ["self_harm"]


def test_an_urge_to_self_harm_is_a_crisis_and_an_accident_is_nothing(triggers: TriggerSet) -> None:
    assert kinds(triggers, "i want to cut myself")[:1] == ["crisis"]
    assert triggers.detect("I cut myself shaving") is None
    assert triggers.detect("I cut my arm on a tin can") is None
    assert kinds(triggers, "I scalded myself with the kettle on purpose")[:1] == ["self_harm"]


@pytest.mark.parametrize(
    "char",
    [chr(c) for c in [*range(0x20000), *range(0xE0000, 0xE1000)] if unicodedata.category(chr(c)) == "Cf"],
)
def test_format_character_inside_a_word_does_not_hide_a_crisis(triggers: TriggerSet, char: str) -> None:
    assert kinds(triggers, f"sui{char}cide")[:1] == ["crisis"]
    assert "crisis" in kinds(triggers, f"I want to d{char}ie")


@pytest.mark.parametrize(
    "text", ["i want to dye", "i want to di", "kll myself", "wanna dy tonight", "hang myslef"]
)
def test_a_slip_in_a_short_crisis_word_is_caught_in_a_risk_context(triggers: TriggerSet, text: str) -> None:
    assert kinds(triggers, text)[:1] == ["crisis"]


@pytest.mark.parametrize(
    "text",
    ["dye", "kll", "I want to dye my hair purple", "I want to read", "I want to lie down", "dyed it blue"],
)
def test_a_short_slip_alone_or_a_real_word_is_never_read_as_a_crisis_word(
    triggers: TriggerSet, text: str
) -> None:
    assert triggers.detect(text) is None


def test_a_censored_three_letter_word_is_still_read(triggers: TriggerSet) -> None:
    assert kinds(triggers, "i want to d*e")[:1] == ["crisis"]


@pytest.mark.parametrize(
    "text",
    [
        "I'd rather not exist",
        "there's no reason to stay around",
        "this is goodbye, thank you for everything, look after my dog",
        "thanks for everything. please look after my cats for me",
        "i want to make die myself",
        "i am not want live",
        "i want finish my life",
        "when I'm gone please make sure the kids are ok",
    ],
)
def test_passive_farewell_and_non_native_wording_starts_crisis(triggers: TriggerSet, text: str) -> None:
    assert kinds(triggers, text)[:1] == ["crisis"]


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("chcę umrzeć", "pl"),
        ("vreau să mor", "ro"),
        ("quero morrer", "pt"),
        ("dw i eisiau marw", "cy"),
        ("میں مرنا چاہتا ہوں", "ur"),
        ("ਮੈਂ ਮਰਨਾ ਚਾਹੁੰਦਾ ਹਾਂ", "pa"),
        ("main marna chahta hoon", "ur-latn"),
        ("mai marna chaunda haan", "pa-latn"),
    ],
)
def test_crisis_in_other_languages_is_caught_with_its_language(
    triggers: TriggerSet, text: str, language: str
) -> None:
    found = triggers.detect(text)
    assert found is not None and found.kind == "crisis" and found.language == language
    assert triggers.language_line(language) is not None and "999" in (triggers.language_line(language) or "")


@pytest.mark.parametrize(
    "text",
    ["my left leg is weak", "I think I have foot drop", "my right leg has gone numb",
     "dragging my left foot"],
)
def test_one_leg_weakness_is_urgent_same_day(triggers: TriggerSet, text: str) -> None:
    assert kinds(triggers, text) == ["red_flag_urgent"]


def test_minor_fall_is_not_an_emergency(triggers: TriggerSet) -> None:
    assert triggers.detect("tripped on the stairs, nothing broken") is None
    assert triggers.detect("had a little slip in the garden but no harm done") is None
    assert kinds(triggers, "I tripped on the stairs") == ["red_flag_emergency"]


def test_a_reassurance_never_quietens_a_serious_accident_or_a_crisis(triggers: TriggerSet) -> None:
    assert kinds(triggers, "fell off a ladder, nothing broken") == ["red_flag_emergency"]
    assert kinds(triggers, "I was in a car crash, no harm done") == ["red_flag_emergency"]
    assert kinds(triggers, "tripped on the stairs, nothing broken. I want to die")[:1] == ["crisis"]


def test_a_message_wide_exception_can_only_quieten_a_red_flag_rule() -> None:
    data = minimal_file()
    data["exceptions"] = [{"id": "x", "scope": "message", "phrases": ["fine"], "suppresses": ["c.suicide"]}]
    with pytest.raises(TriggerFileError, match="can only quieten red-flag rules"):
        TriggerSet.from_mapping(data)


def test_loose_clothes_are_a_red_flag_only_without_a_reason(triggers: TriggerSet) -> None:
    assert triggers.detect("my trousers are loose, I've lost weight from the gym") is None
    assert "red_flag_urgent" in kinds(triggers, "my trousers are loose and I haven't been dieting")


def test_idioms_about_pain_do_not_start_crisis(triggers: TriggerSet) -> None:
    for text in ["my back is killing me", "this pain is killing me", "I'm dying for a cup of tea", *IDIOMS]:
        assert triggers.detect(text) is None, text


def test_an_idiom_never_hides_a_real_crisis_in_the_same_message(triggers: TriggerSet) -> None:
    def rules(text: str) -> list[str]:
        return [d.rule for d in triggers.detect_all(text)]

    assert rules("I killed myself laughing") == []
    assert "crisis.kill_self" in rules("I killed myself laughing, but honestly I want to kill myself")
    assert rules("I cut myself shaving") == []
    assert "crisis.self_harm" in rules("I cut myself shaving and I've been cutting myself on purpose")
    assert rules("I'm on a diet and lost a stone") == []
    assert "urgent.weight_loss_unexplained" in rules("I'm on a diet but lost a stone without trying")


@pytest.mark.parametrize("joiner", [". ", " ", "\n"])
def test_idiom_exceptions_never_hide_a_disclosure_next_to_them(triggers: TriggerSet, joiner: str) -> None:
    positives = [p for p in load_phrases() if p.kind in SAFETY_CRITICAL]
    hidden = []
    for idiom in IDIOMS:
        for phrase in positives:
            # Unpunctuated, the phrase goes last: "$" phrases ("i cant go on") need a clause end.
            both = (idiom + joiner + phrase.text, phrase.text + joiner + idiom)
            for text in both if joiner.strip() else both[:1]:
                if phrase.kind not in kinds(triggers, text):
                    hidden.append(text)
    assert hidden == []


def test_end_of_sentence_anchor_separates_despair_from_plans(triggers: TriggerSet) -> None:
    assert kinds(triggers, "I can't go on, it's too much") == ["crisis"]
    assert kinds(triggers, "i cant go on") == ["crisis"]
    assert triggers.detect("I can't go on holiday this year") is None
    assert kinds(triggers, "what's the point?") == ["crisis"]
    assert triggers.detect("what's the point of the app") is None


def test_someone_elses_cancer_is_not_taken_as_the_patients_history(triggers: TriggerSet) -> None:
    assert triggers.detect("my mum had breast cancer") is None
    assert kinds(triggers, "I had breast cancer five years ago") == ["red_flag_urgent"]
    assert kinds(triggers, "my mum had cancer and I had chemo too") == ["red_flag_urgent"]


def test_cauda_equina_symptoms_start_the_emergency_flow(triggers: TriggerSet) -> None:
    for text in [
        "both my legs are numb",
        "I can't feel my bum",
        "numbness around my back passage",
        "I've wet myself without noticing",
        "I can't pee",
        "I've lost control of my bowels",
    ]:
        assert kinds(triggers, text)[:1] == ["red_flag_emergency"], text


# ---------------------------------------------------------------- safety of the detector itself


def test_detection_carries_the_rule_id_never_the_message_text(triggers: TriggerSet) -> None:
    text = "Jane Smith here, I want to kill myself"
    rule_ids = {rule["id"] for rule in _default_file()["rules"]}
    for found in triggers.detect_all(text):
        assert found.rule in rule_ids
        assert "jane" not in found.rule.lower() and "smith" not in found.rule.lower()


def test_noise_of_5000_chars_is_checked_quickly_and_safely(triggers: TriggerSet) -> None:
    rng = random.Random(11)
    vocabulary = [
        "i",
        "my",
        "want",
        "to",
        "die",
        "kill",
        "myself",
        "legs",
        "numb",
        "he",
        "hits",
        "me",
        "chest",
    ]
    texts = [*noise_messages(20), " ".join(rng.choice(vocabulary) for _ in range(1000))[:5000]]
    texts.append("".join(rng.choice(string.ascii_lowercase + "*$@!1 ") for _ in range(5000)))
    for text in texts:
        triggers.detect_all(text)  # warm-up; must not raise
    times = []
    for text in texts:
        start = time.thread_time()  # CPU time: other processes on a busy machine do not count
        found = triggers.detect_all(text)
        times.append(time.thread_time() - start)
        assert all(d.kind in KINDS for d in found)
    assert statistics.median(times) < 0.005
    assert max(times) < 0.1, "some input shape is pathologically slow"


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_detect_never_raises_on_any_text(text: str) -> None:
    found = _shared().detect_all(text)
    assert all(d.kind in KINDS for d in found)
    first = _shared().detect(text)
    assert first == (found[0] if found else None)


@settings(max_examples=200, deadline=None)
@given(
    st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("*$@!'\u2019013457 .\n"), max_size=300)
)
def test_a_clear_crisis_statement_is_caught_whatever_surrounds_it(noise: str) -> None:
    assert "crisis" in [d.kind for d in _shared().detect_all(f"{noise}\nI want to die\n{noise}")]


def test_detect_survives_odd_strings(triggers: TriggerSet) -> None:
    odd = ["", " ", "🙂👍", "\x00\x01", "\ud800 kill myself", "a" * 5000, "'" * 5000, "\u00e9" * 3000]
    for text in [*odd, "\u200bsui\u200bcide", "k\u0301i\u0301l\u0301l myself"]:
        triggers.detect_all(text)
    assert triggers.detect("") is None
    assert triggers.detect("🙂👍") is None
    assert kinds(triggers, "\u200bsui\u200bcide") == ["crisis"]


@pytest.mark.detector_failure
def test_a_detector_failure_reports_a_crisis_instead_of_silence(monkeypatch: pytest.MonkeyPatch) -> None:
    broken = TriggerSet.from_mapping(minimal_file())

    class Exploding:
        def scan(self, tokens: object) -> object:
            raise RuntimeError("bug")

    monkeypatch.setattr(broken, "_matcher", Exploding())
    assert broken.detect("hello") == Detection("crisis", "internal.detector_failed")


# ---------------------------------------------------------------- the admin-editable file


def test_default_trigger_file_is_valid_and_covers_every_kind() -> None:
    loaded = TriggerSet.from_file(ROOT / "dialogs" / "triggers.yaml")
    assert {rule["kind"] for rule in _default_file()["rules"]} == set(KINDS)
    assert loaded.detect("suicide") is not None


@pytest.mark.parametrize(
    ("change", "hint"),
    [
        (lambda d: d["rules"][0].update(kind="crysis"), "rules[0] (id 'c.suicide').kind"),
        (lambda d: d["rules"][1].update(phrases=["he ..9 me"]), "gap '..9'"),
        (lambda d: d["rules"][1].update(phrases=["@nobody hits me"]), "unknown or empty group '@nobody'"),
        (lambda d: d["rules"].pop(3), "no rule of kind red_flag_urgent"),
        (lambda d: d["rules"].append(dict(d["rules"][0])), "id 'c.suicide' is used twice"),
        (lambda d: d.update(version=2), "version"),
        (lambda d: d.update(exceptions=[{"id": "x", "phrases": ["a"], "suppresses": ["nope"]}]), "'nope'"),
        (lambda d: d["rules"][0].update(keywords=["two words"]), "a keyword must be one word"),
        (
            lambda d: d["rules"][1].update(phrases=["he $ hits me"]),
            "'$' (end of sentence) can only come last",
        ),
    ],
)
def test_a_bad_trigger_file_is_refused_with_one_clear_line(change: Any, hint: str) -> None:
    data = minimal_file()
    change(data)
    with pytest.raises(TriggerFileError) as caught:
        TriggerSet.from_mapping(data, source="dialogs/triggers.yaml")
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith("dialogs/triggers.yaml: ")
    assert hint in message


@pytest.mark.parametrize(
    ("content", "hint"),
    [("", "empty"), ("version: 1\nrules: [\n", "not valid YAML at line"), ("- a\n", "mapping")],
)
def test_an_unreadable_trigger_file_is_refused_with_one_clear_line(
    tmp_path: pathlib.Path, content: str, hint: str
) -> None:
    path = tmp_path / "triggers.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(TriggerFileError) as caught:
        TriggerSet.from_file(path)
    assert str(caught.value).startswith(str(path)) and hint in str(caught.value)
    assert "\n" not in str(caught.value)
    with pytest.raises(TriggerFileError, match="cannot read"):
        load_default_triggers(tmp_path / "missing")


def test_trigger_file_error_is_a_value_error() -> None:
    assert issubclass(TriggerFileError, ValueError)
    assert triggers_module.KINDS == (
        "overdose", "self_harm", "crisis", "abuse", "red_flag_emergency", "red_flag_urgent"
    )


def test_a_rule_language_needs_a_line() -> None:
    data = minimal_file()
    data["rules"][0]["language"] = "pl"
    with pytest.raises(TriggerFileError, match="language 'pl' has no line"):
        TriggerSet.from_mapping(data)
    data["language_lines"] = {"pl": "Zadzwoń pod numer 999."}
    assert TriggerSet.from_mapping(data).detect("suicide") == Detection("crisis", "c.suicide", "pl")


_SHARED: list[TriggerSet] = []


def _shared() -> TriggerSet:
    """One trigger set for hypothesis tests (fixtures do not mix well with @given)."""
    if not _SHARED:
        _SHARED.append(load_default_triggers(ROOT / "dialogs"))
    return _SHARED[0]


def _default_file() -> dict[str, Any]:
    data: dict[str, Any] = load_safe((ROOT / "dialogs" / "triggers.yaml").read_text("utf-8"))
    return data


@pytest.mark.parametrize("opener", ["i", "but", "because", "so", "honestly", "please"])
def test_an_end_of_sentence_phrase_also_ends_where_a_new_clause_opens(opener: str) -> None:
    data = minimal_file()
    data["rules"][0]["phrases"] = ["cant go on $"]
    anchored = TriggerSet.from_mapping(data)
    assert [d.rule for d in anchored.detect_all(f"i cant go on {opener} im so tired")] == ["c.suicide"]
    assert anchored.detect_all("i cant go on holiday this year") == []
