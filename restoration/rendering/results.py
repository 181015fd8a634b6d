"""Results from the GPU workers: the one entry point the `record_result` task calls.

A variant job finishes in restoration.rendering.variants; a film segment's result is
recorded in restoration.rendering.film, and the last one queues the assembly.
"""

from __future__ import annotations

from typing import Any

from restoration.models import RenderJob
from restoration.rendering.film import record_segment_result
from restoration.rendering.variants import record_variant_result


def record_result(data: dict[str, Any]) -> RenderJob | None:
    """Record a worker's result once; a repeated or late result changes nothing."""
    if data.get("segment") is not None:
        return record_segment_result(data)
    return record_variant_result(data)
