"""The live topics a websocket may watch.

Topics are "<prefix>-<id>". Each app registers its prefixes when it starts (its
AppConfig.ready): who may watch a topic and how to build the snapshot sent on
(re)connect, so a page that reconnects catches up with what it missed. The registry
lives here, below the apps, so that no app imports another to add a topic.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TopicKind:
    can_watch: Callable[[Any, int], bool]
    snapshot: Callable[[int], dict | None]


_TOPICS: dict[str, TopicKind] = {}


def register_topic(prefix: str, *, can_watch: Callable[[Any, int], bool],
                   snapshot: Callable[[int], dict | None]) -> None:
    _TOPICS[prefix] = TopicKind(can_watch, snapshot)


def _parse(topic: str) -> tuple[TopicKind, int] | None:
    prefix, _, raw_id = topic.rpartition("-")
    kind = _TOPICS.get(prefix)
    if kind is None or not raw_id.isdigit():
        return None
    return kind, int(raw_id)


def can_watch_topic(user: Any, topic: str) -> bool:
    parsed = _parse(topic)
    return parsed is not None and parsed[0].can_watch(user, parsed[1])


def topic_snapshot(topic: str) -> dict | None:
    parsed = _parse(topic)
    return parsed[0].snapshot(parsed[1]) if parsed else None
