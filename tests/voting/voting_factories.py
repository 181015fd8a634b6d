"""Builders for voting tests: clips with rendered variants, contests, ready raters."""

from __future__ import annotations

import random
import uuid
from datetime import timedelta
from pathlib import Path

from django.core.files.base import ContentFile, File
from django.utils import timezone

from gpu_worker.engine.spec import apply_overrides, parse_spec
from restoration.models import Clip, Preset, PresetVersion, Variant
from tests.factories import FilmFactory
from voting import services
from voting.models import Ballot, Contest, Pairing, Rater


def make_clip(film=None, **fields) -> Clip:
    film = film or FilmFactory()
    defaults = {"title": "Reel 1", "source": "clips/test/source.mp4", "status": Clip.Status.READY,
                "fps": 24.0, "width": 64, "height": 48}
    defaults.update(fields)
    return Clip.objects.create(film=film, **defaults)


def make_variant(clip: Clip, n: int, video: Path | None = None, *, overrides: dict | None = None,
                 preset_version: PresetVersion | None = None) -> Variant:
    """A finished variant render; ``video`` is a real file (browser tests) or a stub."""
    if preset_version is None:
        preset = Preset.objects.create(name=f"preset {n} {uuid.uuid4().hex[:6]}")
        parsed = parse_spec({"ops": [{"op": "grain", "params": {"strength": n / 10}}], "seed": 1})
        preset_version = PresetVersion.objects.create(
            preset=preset, number=1, spec=parsed.to_dict(), spec_hash=parsed.spec_hash)
    spec = dict(preset_version.spec)
    spec_hash = preset_version.spec_hash
    if overrides:  # a real variant: the effective spec with the overrides applied
        effective = apply_overrides(spec, overrides)
        spec, spec_hash = effective.to_dict(), effective.spec_hash
    variant = Variant.objects.create(clip=clip, preset_version=preset_version, label=f"variant {n}",
                                     overrides=overrides or {}, spec=spec, spec_hash=spec_hash,
                                     start_frame=0, end_frame=48, status=Variant.Status.DONE)
    if video is not None:
        with open(video, "rb") as handle:
            variant.output.save(f"variant-{n}.mp4", File(handle), save=True)
    else:
        variant.output.save(f"variant-{n}.mp4", ContentFile(b"not really a video"), save=True)
    return variant


def make_contest(n_variants: int = 3, *, videos: list[Path] | None = None, decoy: bool = False,
                 **settings) -> Contest:
    clip = make_clip()
    variants = [make_variant(clip, k, videos[k % len(videos)] if videos else None) for k in range(n_variants)]
    decoys = {variants[0]: make_variant(clip, 99)} if decoy else None
    settings.setdefault("min_watch_seconds", 3.0)
    return services.open_contest(clip=clip, variants=variants, decoys=decoys, rng=random.Random(0), **settings)


def ready_rater(**fields) -> Rater:
    """A rater who has solved the proof of work."""
    return Rater.objects.create(pow_solved_at=timezone.now(), pow_bits=16, **fields)


def watch(contest: Contest, rater: Rater, pairing: Pairing, seconds: float, visible: str = "both") -> Pairing:
    """Simulate a second-by-second heartbeat stream covering ``seconds`` of playback."""
    start = timezone.now() - timedelta(seconds=seconds + 1)
    beats = int(seconds) + 1
    for k in range(beats + 1):
        pairing = services.record_heartbeat(contest, rater, pairing.pk, visible=visible, playing=True,
                                            now=start + timedelta(seconds=k))
    return pairing


def vote(contest: Contest, rater: Rater, choice: str | None = None, *, ip: str = "10.0.0.1",
         chooser=None) -> Ballot | None:
    """Serve the next pair, watch it long enough, vote. ``chooser(pairing) -> choice``."""
    pairing = services.next_pairing(contest, rater)
    if pairing is None:
        return None
    watch(contest, rater, pairing, contest.min_watch_seconds + 1)
    choice = chooser(pairing) if chooser else (choice or "left")
    return services.cast_ballot(contest, rater, pairing.pk, choice, ip=ip, user_agent="pytest")
