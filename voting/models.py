"""Contests, raters, pairings and ballots (see voting.stats.ranking for the statistics).

Integrity rules that the database itself enforces live here as constraints, so a race
between two requests cannot get around them: one ballot per rater per unordered pair,
one ballot per served pairing, blind labels unique within a contest.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from restoration.models import Clip, Variant
from voting.stats.ranking import SITE_DEFAULT_RULE
from voting.stats.robust import DEFAULT_TRIM


def new_public_slug() -> str:
    # Unguessable: a contest link is the only key to its voting page.
    return secrets.token_urlsafe(9)


class Tier(models.TextChoices):
    """How much the site knows about a rater (the weight of each is a contest setting)."""

    ANONYMOUS = "anonymous", _("anonymous web fan")
    SCREENING = "screening", _("screening code holder")
    ACCOUNT = "account", _("signed-in account")


class Contest(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", _("open")
        CLOSED = "closed", _("closed")
        DECIDED = "decided", _("decided")

    class Method(models.TextChoices):
        INTERVALS = "intervals", _("interval of the leader clears the others")
        PROBABILITY = "probability", _("probability of being best above a threshold")
        EITHER = "either", _("whichever comes first")

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="contests")
    title = models.CharField(max_length=200, blank=True)
    variants = models.ManyToManyField(Variant, through="ContestEntry", related_name="contests")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    slug = models.CharField(max_length=32, unique=True, default=new_public_slug,
                            help_text="Public token in the voting link and QR code.")

    # Decision settings (voting.stats.ranking.DecisionRule / RankingConfig).
    decision_method = models.CharField(max_length=16, choices=Method.choices, default=SITE_DEFAULT_RULE.method)
    p_best_threshold = models.FloatField(default=SITE_DEFAULT_RULE.p_best_threshold)
    confidence = models.FloatField(default=0.95)
    min_raters = models.PositiveIntegerField(default=5)
    auto_decide = models.BooleanField(default=True, help_text="Close the contest when the rule fires.")
    auto_adopt = models.BooleanField(default=False,
                                     help_text="When decided, adopt the winner as the film's preset "
                                               "and start the full-film render.")
    # Integrity settings.
    min_watch_seconds = models.FloatField(default=5.0,
                                          help_text="Each side must be watched this long before a vote counts.")
    golden_rate = models.FloatField(default=0.1, help_text="Share of golden (known-answer) pairs.")
    # A robust decision (voting.services.robust_decision): ballots from at least this many
    # networks (/24 IPv4, /48 IPv6), spread over at least this long, and the same winner
    # after removing any one network's ballots.
    min_networks = models.PositiveIntegerField(default=3, help_text="Distinct networks before a decision.")
    min_decision_seconds = models.PositiveIntegerField(
        default=600, help_text="Least time between the first and last ballot before a decision.")
    # ... and the same decided winner once this share of the ballot weight most favourable
    # to it is removed (voting.stats.robust.trim_for_leader): an attacker holding at most
    # this share of the ballots can neither decide the contest for its variant nor flip it.
    trim = models.FloatField(
        default=DEFAULT_TRIM,
        help_text="Share of the ballot weight an attacker may hold: the winner must still win without "
                  "this share of the ballots most favourable to it, taken from ballots cast without a "
                  "screening code (0 turns the check off).")

    # Rater trust tiers (voting.services.ballot_tier): the weight each tier's ballots carry
    # in the tally, multiplied by the rater's reliability weight.
    weight_anonymous = models.FloatField(default=0.5, help_text="Weight of an anonymous web fan's ballot.")
    weight_screening = models.FloatField(default=1.0,
                                         help_text="Weight of a ballot from a screening-code holder.")
    weight_account = models.FloatField(default=1.0, help_text="Weight of a signed-in account's ballot.")

    winner = models.ForeignKey("ContestEntry", null=True, blank=True, on_delete=models.SET_NULL,
                               related_name="+")
    decision_reason = models.TextField(blank=True)
    decided_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    adopted_at = models.DateTimeField(null=True, blank=True)
    adopted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    adopted_preset = models.ForeignKey("restoration.PresetVersion", null=True, blank=True,
                                       on_delete=models.SET_NULL, related_name="+")
    adoption_note = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="contests")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(min_watch_seconds__gte=0), name="contest_min_watch_nonnegative"),
            models.CheckConstraint(condition=Q(golden_rate__gte=0) & Q(golden_rate__lte=0.5),
                                   name="contest_golden_rate_range"),
            models.CheckConstraint(condition=Q(weight_anonymous__gte=0) & Q(weight_screening__gte=0)
                                   & Q(weight_account__gte=0), name="contest_tier_weights_nonnegative"),
            models.CheckConstraint(condition=Q(trim__gte=0) & Q(trim__lt=0.5), name="contest_trim_range"),
        ]

    def __str__(self) -> str:
        return self.title or f"contest {self.pk} · {self.clip}"

    @property
    def topic(self) -> str:
        return f"contest-{self.pk}"

    @property
    def is_open(self) -> bool:
        return self.status == self.Status.OPEN

    def get_absolute_url(self) -> str:
        return reverse("voting:vote", args=[self.slug])

    def tier_weight(self, tier: str) -> float:
        return {Tier.ANONYMOUS: self.weight_anonymous, Tier.SCREENING: self.weight_screening,
                Tier.ACCOUNT: self.weight_account}.get(tier, self.weight_anonymous)


class ContestEntry(models.Model):
    """A variant in a contest under a blind public label ("A", "B", …).

    A *decoy* is a deliberately damaged copy of a competing variant: it is never ranked
    and only appears in golden pairs, where the clean side is the right answer.
    """

    contest = models.ForeignKey(Contest, on_delete=models.CASCADE, related_name="entries")
    variant = models.ForeignKey(Variant, on_delete=models.PROTECT, related_name="contest_entries")
    label = models.CharField(max_length=8)
    decoy_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="decoys")

    class Meta:
        ordering = ["contest", "label"]
        constraints = [
            models.UniqueConstraint(fields=["contest", "variant"], name="unique_contest_variant"),
            models.UniqueConstraint(fields=["contest", "label"], name="unique_contest_label"),
        ]

    def __str__(self) -> str:
        return f"{self.label}{' (decoy)' if self.decoy_of_id else ''} · {self.variant}"

    @property
    def is_decoy(self) -> bool:
        return self.decoy_of_id is not None


class Rater(models.Model):
    """A fan, identified by a random token in a signed cookie (an account is optional).

    ``weight`` and ``shadow_excluded`` come from voting.stats.reliability after each ballot;
    ``excluded_by_staff`` is a technician's manual call. Neither is ever shown to the
    rater: their ballots are accepted as usual and simply weigh nothing.
    """

    token = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="raters")
    created_at = models.DateTimeField(auto_now_add=True)
    pow_solved_at = models.DateTimeField(null=True, blank=True)
    pow_bits = models.PositiveSmallIntegerField(default=0)
    reliability = models.FloatField(default=0.75)
    weight = models.FloatField(default=1.0)
    golden_correct = models.PositiveIntegerField(default=0)
    golden_total = models.PositiveIntegerField(default=0)
    flags = models.JSONField(default=list, blank=True)
    shadow_excluded = models.BooleanField(default=False)
    excluded_by_staff = models.BooleanField(default=False)
    assessed_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"rater {self.pk}"

    @property
    def excluded(self) -> bool:
        return self.shadow_excluded or self.excluded_by_staff


class Pairing(models.Model):
    """One pair served to one rater, and the watch session it collects.

    Sides are drawn at random and recorded. Watch time is accumulated on the server
    from heartbeats, each credited with at most the wall-clock time since the previous
    one, so a client cannot claim more watching than actually elapsed.
    """

    class GoldenKind(models.TextChoices):
        NONE = "", "not golden"
        IDENTICAL = "identical", "identical"
        DAMAGED = "damaged", "damaged"

    contest = models.ForeignKey(Contest, on_delete=models.CASCADE, related_name="pairings")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="pairings")
    left = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="+")
    is_golden = models.BooleanField(default=False)
    golden_kind = models.CharField(max_length=16, choices=GoldenKind.choices, default="", blank=True)
    golden_expected = models.CharField(max_length=8, blank=True)
    reason = models.CharField(max_length=32, blank=True, help_text="Why the pair selector chose it.")
    served_at = models.DateTimeField(auto_now_add=True)
    watched_left_seconds = models.FloatField(default=0.0)
    watched_right_seconds = models.FloatField(default=0.0)
    heartbeats = models.PositiveIntegerField(default=0)
    last_heartbeat_at = models.DateTimeField(null=True, blank=True)
    answered = models.BooleanField(default=False)
    # Watch evidence: what the blind media view actually served to this rater for this
    # pairing, and how the heartbeats matched playback (voting.services.record_heartbeat).
    media_left_bytes = models.BigIntegerField(default=0)
    media_right_bytes = models.BigIntegerField(default=0)
    media_left_requests = models.PositiveIntegerField(default=0)
    media_right_requests = models.PositiveIntegerField(default=0)
    last_position = models.FloatField(null=True, blank=True, help_text="player time at the last heartbeat")
    credited_heartbeats = models.PositiveIntegerField(default=0)
    rejected_heartbeats = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-served_at"]
        indexes = [models.Index(fields=["contest", "rater", "answered"])]

    def __str__(self) -> str:
        return f"pairing {self.pk}: {self.left.label} | {self.right.label}"


class Ballot(models.Model):
    class Choice(models.TextChoices):
        LEFT = "left", "left better"
        RIGHT = "right", "right better"
        SAME = "same", "about the same"

    contest = models.ForeignKey(Contest, on_delete=models.CASCADE, related_name="ballots")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="ballots")
    # Ballots go only with their whole contest (deleting a contest is deliberate); a
    # variant that was voted on cannot be deleted (ContestEntry.variant is PROTECT).
    pairing = models.OneToOneField(Pairing, on_delete=models.CASCADE, related_name="ballot")
    left = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="+")
    # The unordered pair, smaller entry id first: what the uniqueness rule is about.
    entry_low = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="+")
    entry_high = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="+")
    choice = models.CharField(max_length=8, choices=Choice.choices)
    watched_left_seconds = models.FloatField()
    watched_right_seconds = models.FloatField()
    heartbeats = models.PositiveIntegerField(default=0)
    served_at = models.DateTimeField()
    cast_at = models.DateTimeField(auto_now_add=True, db_index=True)
    ip_hash = models.CharField(max_length=32, blank=True)
    net_hash = models.CharField(max_length=32, blank=True, help_text="keyed hash of the /24 or /48 network")
    ua_hash = models.CharField(max_length=32, blank=True)
    is_golden = models.BooleanField(default=False)
    golden_kind = models.CharField(max_length=16, blank=True)
    golden_expected = models.CharField(max_length=8, blank=True)
    # The pairing's watch evidence at the moment of the vote (bytes and requests of media
    # served per side, heartbeats credited and rejected): kept for audit.
    evidence = models.JSONField(default=dict, blank=True)
    tier = models.CharField(max_length=16, choices=Tier.choices, default=Tier.ANONYMOUS,
                            help_text="the rater's trust tier in this contest when the ballot was cast")

    class Meta:
        ordering = ["cast_at"]
        constraints = [
            models.UniqueConstraint(fields=["rater", "entry_low", "entry_high"],
                                    name="one_ballot_per_rater_per_pair"),
            models.CheckConstraint(condition=Q(entry_low__lte=F("entry_high")), name="ballot_pair_ordered"),
        ]
        indexes = [models.Index(fields=["contest", "cast_at"])]

    def __str__(self) -> str:
        return f"ballot {self.pk}: {self.choice}"

    @property
    def golden_correct(self) -> bool | None:
        return (self.choice == self.golden_expected) if self.is_golden else None


def new_screening_code() -> str:
    # 10 characters of an alphabet without look-alikes (no 0/O, 1/I/L): about 48 bits,
    # easy to type from a printed card and unguessable.
    alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
    return "".join(secrets.choice(alphabet) for _ in range(10))


class ScreeningCode(models.Model):
    """A one-time code for one seat of a screening: whoever redeems it first is bound to
    it (``rater``), and their ballots in this contest carry the screening tier's weight."""

    contest = models.ForeignKey(Contest, on_delete=models.CASCADE, related_name="screening_codes")
    code = models.CharField(max_length=16, unique=True, default=new_screening_code)
    seat = models.CharField(max_length=32, blank=True, help_text="seat or card label printed with the code")
    rater = models.ForeignKey(Rater, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="screening_codes")
    redeemed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contest", "id"]
        constraints = [
            # A rater holds at most one code per contest (one seat, one weight).
            models.UniqueConstraint(fields=["contest", "rater"], name="one_screening_code_per_rater"),
        ]

    def __str__(self) -> str:
        return f"code {self.seat or self.pk} · contest {self.contest_id}"


class Exclusion(models.Model):
    """A rater shadow-excluded from one contest by the anomaly checks
    (voting.stats.anomalies): their ballots are accepted and weigh 0 in that contest.
    ``cluster`` names the group that tripped the rule (a network, user agent, burst),
    ``detail`` the figures, both for the audit view. The rater is never told."""

    contest = models.ForeignKey(Contest, on_delete=models.CASCADE, related_name="exclusions")
    rater = models.ForeignKey(Rater, on_delete=models.CASCADE, related_name="exclusions")
    reason = models.CharField(max_length=32)
    cluster = models.CharField(max_length=128, blank=True)
    detail = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contest", "reason", "cluster", "rater"]
        constraints = [models.UniqueConstraint(fields=["contest", "rater", "reason"],
                                               name="one_exclusion_per_rater_reason")]

    def __str__(self) -> str:
        return f"{self.rater} excluded from contest {self.contest_id}: {self.reason}"


class BlindCopy(models.Model):
    """A contest's copy of one entry's playable file, for one side of the players.

    Stored under ``contests/<random>/<random>.mp4`` (voting.blind): the name says
    nothing about the variant, its render or its clip, and every copy of a contest is
    padded to one common size, so neither the URL nor the Content-Length tells the two
    sides apart. Each entry has one copy per side, so the two sides of an identical
    golden pair are two different objects. Removed when the contest closes or goes."""

    contest = models.ForeignKey(Contest, on_delete=models.CASCADE, related_name="blind_copies")
    entry = models.ForeignKey(ContestEntry, on_delete=models.CASCADE, related_name="blind_copies")
    side = models.CharField(max_length=8)
    name = models.CharField(max_length=300, help_text="the copy's name in the media storage")
    size = models.BigIntegerField(help_text="bytes, padding included (the same for every copy of the contest)")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["contest", "entry", "side"]
        constraints = [models.UniqueConstraint(fields=["entry", "side"], name="one_blind_copy_per_entry_side")]

    def __str__(self) -> str:
        return f"blind copy {self.pk} · contest {self.contest_id}"
