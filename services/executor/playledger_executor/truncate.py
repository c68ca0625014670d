"""Turn one raw ansible-runner event into a ``RunnerEventData`` that fits a NATS message (pure).

``stdout`` and ``event_data.res`` longer than the limit (UTF-8 bytes) are cut and the cut is
recorded as a ``TruncatedField``; the full stdout stays in the job's log. A cut ``res`` keeps
its small status keys (``changed``, ``failed``, ``rc`` …) so readers can still classify it.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import msgspec

from playledger_schemas.events import RunnerEventData, TruncatedField

RES_STATUS_KEYS: Final = ("changed", "failed", "rc", "skipped", "unreachable", "censored")
MAX_EVENT_DATA_BYTES: Final = 768 * 1024
"""Above this, ``event_data`` (other fields, e.g. a huge diff) is reduced to its context keys."""
_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_-]")
_json: Final = msgspec.json.Encoder()


@functools.lru_cache(maxsize=256)
def safe_event_name(name: str) -> str:
    """The runner event name as one safe subject token (cached: a run has a dozen names)."""
    return _UNSAFE.sub("_", name)[:128] or "unknown"


def cut_text(text: str, limit: int) -> tuple[str, TruncatedField | None]:
    encoded = text.encode("utf-8", errors="surrogatepass")
    if len(encoded) <= limit:
        return text, None
    kept = encoded[:limit].decode("utf-8", errors="ignore")
    return kept, TruncatedField(field="stdout", original_size=len(encoded), kept_size=len(kept.encode()))


def cut_res(res: Any, limit: int) -> tuple[Any, TruncatedField | None]:
    text = _json.encode(res)
    if len(text) <= limit:
        return res, None
    kept: dict[str, Any] = {}
    if isinstance(res, dict):
        kept = {k: res[k] for k in RES_STATUS_KEYS if k in res and isinstance(res[k], bool | int | str)}
        if isinstance(kept.get("censored"), str):
            kept["censored"] = kept["censored"][:1024]
    kept["truncated"] = text[:limit].decode("utf-8", errors="ignore")
    size = len(_json.encode(kept))
    return kept, TruncatedField(field="event_data.res", original_size=len(text), kept_size=size)


def to_event_data(raw: dict[str, Any], limit: int) -> RunnerEventData:
    """Keep runner's fields as they are, but cut oversized text."""
    truncated: list[TruncatedField] = []
    stdout, cut = cut_text(str(raw.get("stdout") or ""), limit)
    if cut:
        truncated.append(cut)
    event_data = raw.get("event_data")
    event_data = dict(event_data) if isinstance(event_data, dict) else {}
    if "res" in event_data:
        event_data["res"], cut = cut_res(event_data["res"], limit)
        if cut:
            truncated.append(cut)
    size = len(_json.encode(event_data))
    if size > MAX_EVENT_DATA_BYTES:
        event_data = {k: v for k, v in event_data.items() if isinstance(v, bool | int | float | str | None)}
        event_data = {k: v[:1024] if isinstance(v, str) else v for k, v in event_data.items()}
        truncated.append(
            TruncatedField(field="event_data", original_size=size, kept_size=len(_json.encode(event_data)))
        )
    return RunnerEventData(
        event=str(raw.get("event") or "unknown"),
        counter=int(raw["counter"]),
        uuid=str(raw.get("uuid") or ""),
        parent_uuid=_opt_str(raw.get("parent_uuid")),
        created=_opt_str(raw.get("created")),
        stdout=stdout,
        start_line=_opt_int(raw.get("start_line")),
        end_line=_opt_int(raw.get("end_line")),
        pid=_opt_int(raw.get("pid")),
        event_data=event_data,
        truncated=truncated,
    )


def fit(data: RunnerEventData, line_size: int, limit: int) -> RunnerEventData:
    """``data`` decoded from a worker line of ``line_size`` bytes, cut like ``to_event_data``.

    No field re-encodes longer than the line held it (a string's JSON escapes are at least as
    long as its UTF-8; runner's ``", "`` separators are longer than msgspec's), so a line of up to
    half the limit needs no cut and costs nothing here: nearly every line, whose fields are then
    published exactly as runner wrote them."""
    if line_size <= limit // 2:
        return data
    return to_event_data(msgspec.structs.asdict(data), limit)


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)


def _opt_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None
