"""Failures described for the log by class and code location only, never by their message.

An exception's message can quote what it was working on: a database driver quotes the value it could
not store (asyncpg's "invalid input for query argument $3: 'Hello Sam...'"), a bug's KeyError the
answer it looked up. Those are patients' words and names, so the log gets the error's class and the
frames it was raised through (file, line, function and the source line: code, never values), enough
to find the fault. `hide_parameters` keeps SQLAlchemy's own parameter dump out; this keeps the rest.
"""

from __future__ import annotations

import traceback


def described(error: BaseException) -> str:
    """`error`'s class and traceback without any message, its causes' classes after it."""
    parts = [type(error).__name__, "".join(traceback.format_tb(error.__traceback__)).rstrip()]
    cause = error.__cause__ or error.__context__
    seen = {id(error)}
    while cause is not None and id(cause) not in seen:  # a driver error wrapped by SQLAlchemy, say
        seen.add(id(cause))
        parts.append(f"caused by {type(cause).__name__}")
        cause = cause.__cause__ or cause.__context__
    return "\n".join(part for part in parts if part)
