"""Does a message ask for a human being ("can someone ring me", "I need to speak to a real person")?

A patient who asks for a person must reach one: the `asks_for_person` escalation rule exists for
this, and the engine raises it whenever a message (a note to the coach, an answer, or words outside
any dialog) asks. Pure and small on purpose: a few shapes of request that generalise over the words
people use, not a list of phrases, so "could my coach phone me back" and "is there a human I can talk
to" are caught while "call me Sam", "I talked to my coach yesterday", "the hospital will ring me" and
"if I need to talk to someone" (a plan, not a request) are not.

Over-asking is cheap (a routine card for the coach); missing a request is not, so when in doubt the
shapes lean towards a request. Words of crisis never come here first: the triggers pre-empt them.
"""

from __future__ import annotations

import re

from coachbot.care.textnorm import simplify

_PERSON = (r"(?:(?:a|an|the|my|your|some|real|actual|live|human|proper|other|another)\s)*"
           r"(?:person|human|humans|human being|someone|somebody|anyone|anybody|coach|"
           r"member of staff|staff|advisor|adviser)")
_TALK = r"(?:speak|talk|chat)(?:ing)?\s(?:to|with)"
_CONTACT = r"(?P<verb>ring|phone|call|contact|text|email|message)\sme"
_SHAPES = (
    # "I need to speak to a real person", "can I talk with my coach", "talk to someone please"
    re.compile(rf"\b{_TALK}\s{_PERSON}\b"),
    # "can someone ring me", "please phone me back", "I'd like my coach to call me"
    re.compile(rf"\b{_CONTACT}\b(?!\s(?:a|an|the|that|what|by|by my)\b)"),
    # "give me a ring", "get in touch with me"
    re.compile(r"\bgive\sme\s(?:a\s)?(?:ring|call|bell|phone call)\b|\bget\sin\stouch\swith\sme\b"),
    # "I want a real person", "human please", "put me through to someone"
    re.compile(r"\b(?:a|an)?\s?(?:real|actual|live)\s(?:person|human|people)\b"),
    re.compile(r"\bput\sme\sthrough\b|\b(?:human|person)\splease\b"),
    # "is there anyone there", "are you a real person", "am I talking to a bot"
    re.compile(r"\b(?:is|are)\sthere\s(?:a\s|an\s|any\s)?(?:human|person|someone|somebody|anyone|anybody|coach)\b"),
    re.compile(r"\b(?:is|are)\s(?:there\s)?(?:anyone|anybody|someone|somebody)\s(?:there|real|reading)\b"),
    re.compile(r"\b(?:talking|speaking)\sto\s(?:a\s)?(?:bot|robot|machine|computer)\b"),
)
_REQUESTER = frozenset({
    "can", "could", "please", "pls", "plz", "someone", "somebody", "anyone", "anybody",
    "coach", "need", "want", "like", "wish", "get", "have", "you", "cant", "may", "help", "asap"})
"""Words that make a bare "call me" a request; without one, it may be "call me Sam"."""
_CONTACT_NEXT = frozenset({"back", "please", "pls", "asap", "today", "tomorrow", "now", "soon", "when",
                           "on", "at", "if", "later", "urgently", "up"})
_NAMING_VERBS = frozenset({"call", "text", "message", "email"})
"""Verbs that, opening a message with a word after them, may name rather than ask ("call me Sam")."""
_NEGATION = frozenset({"not", "never", "no", "dont", "nobody", "without", "stop"})
_CONDITION = frozenset({"if", "when", "whenever", "unless", "should"})
_LOOK_BACK = 4
"""Tokens before a request that can negate it ("please do not ring me")."""


def asks_for_person(text: str) -> bool:
    """True when the message asks to speak to, or be contacted by, a human being."""
    plain = " ".join(re.findall(r"[a-z]+", simplify(text)))
    if not plain:
        return False
    for index, shape in enumerate(_SHAPES):
        for match in shape.finditer(plain):
            before = plain[: match.start()].split()
            if _negated_or_conditional(before):
                continue
            if index == 1 and not _contact_is_a_request(match.group("verb"), before,
                                                        plain[match.end():].split()):
                continue
            return True
    return False


def _negated_or_conditional(before: list[str]) -> bool:
    recent = before[-_LOOK_BACK:]
    return any(word in _NEGATION for word in recent) or any(word in _CONDITION for word in before[-6:])


def _contact_is_a_request(verb: str, before: list[str], after: list[str]) -> bool:
    """ "ring me" after a requester ("can you"), before "back", "please" or a time, or as the whole
    message; not after someone else's plan ("the hospital will ring me") nor before a name ("call me
    Sam" answers a question)."""
    if any(word in _REQUESTER for word in before[-6:]):
        return True
    if after and after[0] in _CONTACT_NEXT:
        return True
    return not before and (not after or verb not in _NAMING_VERBS)
