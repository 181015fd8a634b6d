"""Voting helpers that act through the services: open a contest, watch a pair, vote.

The rows themselves come from the factories (tests/factories.py, tests/voting/factories.py);
``make_clip``, ``make_variant`` and ``ready_rater`` are kept here as shortcuts to them.
"""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path

from django.utils import timezone

from restoration.models import Clip, PresetVersion, Variant
from tests.factories import ClipFactory, PresetVersionFactory, VariantFactory
from tests.voting.factories import BallotFactory, PairingFactory, ready_rater
from voting import services
from voting.models import Ballot, Contest, Pairing, Rater

__all__ = ["attacked_crowd", "fetch_media", "make_clip", "make_contest", "make_variant", "ready_rater", "vote",
           "watch"]


def make_clip(film=None, **fields) -> Clip:
    """A ready clip (a stub source): ``ClipFactory``."""
    return ClipFactory(**({"film": film} if film else {}), **fields)


def make_variant(clip: Clip, n: int, video: Path | None = None, *, overrides: dict | None = None,
                 preset_version: PresetVersion | None = None) -> Variant:
    """Variant number ``n`` of ``clip``, finished: its own preset version (grain at n/10)
    unless one is given; ``video`` is a real file for its output (browser tests) or a stub."""
    if preset_version is None:
        preset_version = PresetVersionFactory(
            recipe={"ops": [{"op": "grain", "params": {"strength": n / 10}}], "seed": 1})
    return VariantFactory(clip=clip, preset_version=preset_version, label=f"variant {n}",
                          overrides=overrides or {}, output_path=video, output_name=f"variant-{n}.mp4")


def make_contest(n_variants: int = 3, *, videos: list[Path] | None = None, decoy: bool = False,
                 **settings) -> Contest:
    """An open contest of ``n_variants`` finished variants of a new clip, opened through
    ``voting.services.open_contest`` (blind labels, a decoy of the first variant if asked)."""
    clip = ClipFactory()
    variants = [make_variant(clip, k, videos[k % len(videos)] if videos else None) for k in range(n_variants)]
    decoys = {variants[0]: make_variant(clip, 99)} if decoy else None
    settings.setdefault("min_watch_seconds", 3.0)
    return services.open_contest(clip=clip, variants=variants, decoys=decoys, rng=random.Random(0), **settings)


def fetch_media(pairing: Pairing, nbytes: int = 4096) -> None:
    """What the blind media view records when a player fetches both sides."""
    for side in services.SIDES:
        services.record_media_served(pairing, side, nbytes)


def watch(contest: Contest, rater: Rater, pairing: Pairing, seconds: float, visible: str = "both",
          *, fetched: bool = True) -> Pairing:
    """Simulate a second-by-second heartbeat stream covering ``seconds`` of playback by a
    player that fetched both sides' media (unless ``fetched`` is False) and reports its
    position advancing with the clock."""
    if fetched:
        fetch_media(pairing)
    start = timezone.now() - timedelta(seconds=seconds + 1)
    beats = int(seconds) + 1
    for k in range(beats + 1):
        pairing = services.record_heartbeat(contest, rater, pairing.pk, visible=visible, playing=True,
                                            position=float(k), now=start + timedelta(seconds=k))
    return pairing


_HUMAN_PACE = random.Random(20261207)
_RATER_CLOCK: dict[int, object] = {}


def vote(contest: Contest, rater: Rater, choice: str | None = None, *, ip: str = "10.0.0.1",
         chooser=None) -> Ballot | None:
    """Serve the next pair, watch it long enough, vote. ``chooser(pairing) -> choice``."""
    pairing = services.next_pairing(contest, rater)
    if pairing is None:
        return None
    watch(contest, rater, pairing, contest.min_watch_seconds + 1)
    choice = chooser(pairing) if chooser else (choice or "left")
    ballot = services.cast_ballot(contest, rater, pairing.pk, choice, ip=ip, user_agent="pytest")
    if ballot is not None:
        _human_timing(contest, rater, ballot)
    return ballot


def _human_timing(contest: Contest, rater: Rater, ballot: Ballot) -> None:
    """Give the ballot the pace of a person: watched, an irregular few seconds to choose,
    a pause before the next pair, on a clock of the rater's own that starts five minutes
    back. A test casting ballots as fast as the code runs would be machine-regular
    timing to the anomaly checks, as a script is."""
    now = timezone.now()
    clock = _RATER_CLOCK.get(rater.pk)
    if clock is None or clock < now - timedelta(seconds=600) or clock > now:
        clock = now - timedelta(seconds=300)  # a new rater (or one from an earlier test)
    served = clock
    cast = served + timedelta(seconds=contest.min_watch_seconds + 1
                              + _HUMAN_PACE.uniform(1.0, 8.0))
    _RATER_CLOCK[rater.pk] = cast + timedelta(seconds=_HUMAN_PACE.uniform(1.0, 6.0))
    Ballot.objects.filter(pk=ballot.pk).update(served_at=served, cast_at=cast)
    ballot.served_at, ballot.cast_at = served, cast


def attacked_crowd(contest: Contest, *, fans: int = 200, attackers: int = 50, target: str = "B",
                   fan_tier: str = "account", pattern: dict[tuple[str, str], tuple[int, int]] | None = None) -> None:
    """Ballots written straight to the table (factories, no vote flow) for a contest over
    A, B and C: ``fans`` signed-in fans who each judge every pair once (per ten fans,
    A-B: 5 for A, 4 for B, 1 tie; A-C and B-C: 6, 3, 1) and ``attackers`` signed-in
    accounts who vote for ``target`` on each pair it is in: a fifth of those pairs'
    ballots with the defaults. Seven networks, sides alternating, a person's pace; the
    fans alone put A ahead, the attackers make the plain rule decide for ``target``
    (whatever the bootstrap's seed: checked over 60 seeds at 40 replicates). ``fan_tier``:
    the tier the fans' ballots were cast in (``screening``: each held a code); ``pattern``:
    per pair, the first and second variant's wins per ten fans (the rest tie), instead
    of the one above."""
    entries = {e.label: e for e in contest.entries.all()}
    start = timezone.now() - timedelta(hours=2)
    k = 0

    def cast(rater: Rater, a: str, b: str, won: str | None, tier: str = "account") -> None:
        nonlocal k
        left, right = (a, b) if k % 2 == 0 else (b, a)
        choice = "same" if won is None else ("left" if won == left else "right")
        served = start + timedelta(seconds=20 * k + (k * 7) % 11)
        ballot = BallotFactory(pairing=PairingFactory(contest=contest, rater=rater, left=entries[left],
                                                      right=entries[right], answered=True),
                               choice=choice, tier=tier, net_hash=f"net{k % 7}", ua_hash=f"ua{k % 5}",
                               served_at=served)
        Ballot.objects.filter(pk=ballot.pk).update(cast_at=served + timedelta(seconds=8 + (k * 13) % 17))
        k += 1

    pattern = pattern or {("A", "B"): (5, 4), ("A", "C"): (6, 3), ("B", "C"): (6, 3)}
    for r in range(fans):
        rater = ready_rater()
        for (a, b), (first, second) in pattern.items():
            m = r % 10
            cast(rater, a, b, a if m < first else (b if m < first + second else None), fan_tier)
    for _ in range(attackers):
        rater = ready_rater()
        for other in sorted(set(entries) - {target}):
            cast(rater, target, other, target)
