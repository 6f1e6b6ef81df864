"""The event catalogue: every registered event type with its description and a JSON Schema of
what a webhook receives for it (``GET /api/v1/event-types``). Pure: built from the registry.

The envelope is the same for every type (DESIGN §5.4): ``{id, type, created_at, data}`` plus
``org_id``, ``subject`` and ``actor``. The keys of ``data`` come from the verb (``created`` →
``after``, ``updated`` → ``before``/``after``, …) and from the ``data: …`` / ``data.x`` notes of the
registry's description; ``data`` may carry more keys than listed (additionalProperties).
"""

from __future__ import annotations

import re
from typing import Any

from kith.core.events import EVENT_TYPES

_BY_VERB: dict[str, tuple[str, ...]] = {
    "created": ("after",),
    "updated": ("before", "after"),
    "deleted": ("before", "permanent"),
    "restored": ("after",),
}
_NOTE = re.compile(r"data(?:\.([a-z_]+)|: ([^)]*))")
_KEY = re.compile(r"^([a-z_]+)")


def data_keys(event_type: str) -> list[str]:
    verb = event_type.split(".", 1)[1]
    keys = list(_BY_VERB.get(verb, ()))
    for single, listed in _NOTE.findall(EVENT_TYPES[event_type]):
        for part in ([single] if single else re.split(r"[,;]| and ", listed)):
            for word in part.strip().split("/"):
                m = _KEY.match(word.strip())
                if m and m.group(1) not in keys:
                    keys.append(m.group(1))
    return keys or ["before", "after"]


def _ref(kind: str) -> dict[str, Any]:
    return {"type": "object", "required": ["type", "id"], "properties": {
        "type": {"type": "string", "description": f"the {kind}'s kind"},
        "id": {"type": ["string", "null"]}}}


def payload_schema(event_type: str) -> dict[str, Any]:
    data = {"type": "object", "additionalProperties": True,
            "properties": {k: {"description": f"`{k}` of the event"} for k in data_keys(event_type)}}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": event_type,
        "type": "object",
        "required": ["id", "type", "created_at", "data"],
        "properties": {
            "id": {"type": "string", "description": "The event id; delivery is at-least-once: dedupe on it."},
            "type": {"const": event_type},
            "created_at": {"type": "string", "format": "date-time"},
            "data": data,
            "org_id": {"type": "string"},
            "subject": _ref("record the event is about"),
            "actor": _ref("actor (user, system or widget)"),
        },
    }


def catalogue() -> list[dict[str, Any]]:
    return [{"type": t, "description": d, "schema": payload_schema(t)} for t, d in sorted(EVENT_TYPES.items())]
