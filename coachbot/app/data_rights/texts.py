"""`dialogs/forget.yaml`: every word of /forget, of withdrawing consent, and what the coach is told.

Checked like the other dialog files (unknown keys, `{placeholders}`), so a typo is a problem with file
and line when the bot starts, never a raw brace in a patient's chat. The defaults are the shipped
words, so a deployment without the file still keeps the consent text's promises.
"""

from __future__ import annotations

import string
from collections.abc import Iterator
from pathlib import Path

from coachbot.spec.problems import DialogError, Problem
from coachbot.spec.schema import load_checked_file
from coachbot.spec.strict import StrictModel
from coachbot.spec.yaml_source import YamlDocument

FILE_NAME = "forget.yaml"


class ForgetWords(StrictModel):
    question: str = (
        "Do you want us to erase the information we keep about you? This deletes your answers, your "
        "coach's notes, our conversation, the self-help steps you were given, your charts and the messages "
        "passed between you and your coach. It cannot be undone. Your coach will be told.")
    yes_button: str = "Yes, erase everything"
    no_button: str = "No, keep it"
    erased: str = "Your information has been erased. Only a record that it happened remains."
    kept: str = "Nothing has been erased. Send /forget if you change your mind."
    coach_told: str = "Patient {label} asked for their information to be erased. It has been erased."
    question_open_alert: str = (
        "Before you decide: your coach was alerted about something you told me, and has not finished "
        "following it up. If you erase your information now, they will not be able to reach you through "
        "this chat.")
    erased_open_alert: str = (
        "Your coach has been told that they can no longer reach you through this chat. If you need help "
        "now, call NHS 111, or 999 if your life is at risk.")
    coach_told_open_alert: str = (
        "URGENT: patient {label} erased their information while an urgent alert about them was still "
        "open. The alert card and its buttons no longer work, and the bot can no longer message them "
        "or tell you how to reach them. If your service holds their contact details elsewhere, follow "
        "its process for an urgent concern now.")


class ConsentWords(StrictModel):
    offer_after_stop: str = ("If you also want to withdraw your consent for us to keep your information, "
                             "tap the button or type withdraw.")
    withdraw_button: str = "Withdraw my consent"
    withdrawn: str = ("You have withdrawn your consent. I have stopped all messages. You can also have "
                      "the information we already keep erased.")


class DataRightsTexts(StrictModel):
    forget: ForgetWords = ForgetWords()
    consent: ConsentWords = ConsentWords()


PLACEHOLDERS = {"forget.coach_told": frozenset({"label"}),
                "forget.coach_told_open_alert": frozenset({"label"})}
"""What each sentence may use; every other sentence uses none."""


def load_texts(dialogs_dir: Path) -> DataRightsTexts:
    """The words from `dialogs_dir/forget.yaml`, or the shipped ones when there is no such file;
    raises DialogError listing every problem in the file."""
    path = dialogs_dir / FILE_NAME
    if not path.exists():
        return DataRightsTexts()
    texts, problems = load_checked_file(path, DataRightsTexts, _placeholder_problems)
    if problems or texts is None:
        raise DialogError(problems)
    return texts


def check_texts_file(path: Path) -> list[Problem]:
    return load_checked_file(path, DataRightsTexts, _placeholder_problems)[1]


def _placeholder_problems(doc: YamlDocument, texts: DataRightsTexts) -> Iterator[Problem]:
    for section, words in texts.model_dump().items():
        for key, text in words.items():
            allowed = PLACEHOLDERS.get(f"{section}.{key}", frozenset())
            usable = ", ".join("{" + a + "}" for a in sorted(allowed)) or "no {placeholders}"
            fix = f"use only {usable}, or write {{{{ and }}}} for a literal brace."
            try:
                used = [name for _, name, _, _ in string.Formatter().parse(text) if name is not None]
            except ValueError:
                yield Problem(doc.label, doc.line_of((section, key)), None, f"{section}.{key}",
                              "a { or } is not closed, so the sentence cannot be filled in.", fix)
                continue
            for name in used:
                if name not in allowed:
                    yield Problem(doc.label, doc.line_of((section, key)), None, f"{section}.{key}",
                                  f"{{{name}}} is not filled in here, so it would be shown as it is.", fix)
