"""Reading Bot API parameters from JSON, form-urlencoded, query-string and multipart requests.

PTB sends form-urlencoded (or multipart) bodies in which strings are sent as-is and everything
else JSON-encoded. Like Telegram, the server decides by parameter name how to interpret a value,
so ``params`` always hold typed values (ints, bools, dicts, lists) whatever the encoding was.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from .models import ApiError, UploadedFile, bad_request

INT_PARAMS = {
    "message_id", "reply_to_message_id", "offset", "limit", "timeout", "max_connections", "cache_time",
    "user_id", "message_thread_id", "duration", "width", "height", "from_chat_id", "until_date",
}  # fmt: skip
BOOL_PARAMS = {
    "disable_notification", "protect_content", "show_alert", "drop_pending_updates", "has_spoiler",
    "allow_sending_without_reply", "show_caption_above_media", "disable_web_page_preview",
    "is_personal", "allow_paid_broadcast",
}  # fmt: skip
JSON_PARAMS = {
    "reply_markup", "entities", "caption_entities", "allowed_updates", "commands", "scope",
    "reply_parameters", "link_preview_options", "menu_button",
}  # fmt: skip


async def read_request(request: web.Request) -> tuple[dict[str, Any], dict[str, UploadedFile]]:
    """Raw parameters (query string merged with the body) and uploaded files."""
    raw: dict[str, Any] = dict(request.query)
    files: dict[str, UploadedFile] = {}
    ctype = request.content_type
    if request.can_read_body:
        if ctype == "application/json":
            try:
                body = await request.json()
            except ValueError as exc:
                raise bad_request("can't parse JSON object") from exc
            if not isinstance(body, dict):
                raise bad_request("parameters must be a JSON object")
            raw.update(body)
        elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
            form = await request.post()
            for key, value in form.items():
                if isinstance(value, web.FileField):
                    files[key] = UploadedFile(key, value.filename, value.content_type, value.file.read())
                else:
                    raw[key] = value
    return raw, files


def normalize(raw: dict[str, Any]) -> dict[str, Any]:
    """Typed parameters: ints, bools and JSON objects decoded by name; unparseable values kept raw."""
    out: dict[str, Any] = {}
    for key, value in raw.items():
        out[key] = _coerce(key, value)
    return out


def _coerce(key: str, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        if key == "chat_id":
            return value if value.startswith("@") else int(value)
        if key in INT_PARAMS:
            return int(value)
        if key in BOOL_PARAMS:
            low = value.lower()
            if low in ("true", "1"):
                return True
            if low in ("false", "0", ""):
                return False
            return value
        if key in JSON_PARAMS:
            return json.loads(value)
    except ValueError:
        return value
    return value


# ----- accessors used by the method implementations (Telegram-like error messages) -----


def get_int(
    p: dict[str, Any], name: str, default: int | None = None, *, required: bool = False
) -> int | None:
    value = p.get(name)
    if value is None or value == "":
        if required:
            raise bad_request(f"{name} is empty")
        return default
    if isinstance(value, bool) or not isinstance(value, int):
        raise bad_request(f"invalid {name} specified")
    return value


def get_str(p: dict[str, Any], name: str, default: str | None = None) -> str | None:
    value = p.get(name)
    if value is None:
        return default
    if isinstance(value, (dict, list)):
        raise bad_request(f"wrong parameter {name} in request")
    return str(value)


def get_bool(p: dict[str, Any], name: str, default: bool = False) -> bool:
    value = p.get(name)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    raise bad_request(f"wrong parameter {name} in request")


def get_json(p: dict[str, Any], name: str, kind: type, what: str | None = None) -> Any:
    value = p.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, kind):
        raise bad_request(f"can't parse {what or name} JSON object")
    return value


def get_chat_id(p: dict[str, Any]) -> int | str:
    value = p.get("chat_id")
    if value is None or value == "":
        raise bad_request("chat_id is empty")
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise bad_request("chat not found")
    return value


def require(condition: bool, status: int, description: str) -> None:
    if not condition:
        raise ApiError(status, description)
