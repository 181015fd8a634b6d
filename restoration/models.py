"""Films, their clips, presets (versioned pipeline specs), rendered variants and jobs."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _


def clip_source_key(instance: Clip, filename: str) -> str:
    # A random key, never the user's filename: names can carry paths, clash, or leak.
    return f"clips/{uuid.uuid4().hex}/source{instance.source_suffix()}"


class Film(models.Model):
    title = models.CharField(max_length=200)
    year = models.PositiveIntegerField(null=True, blank=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                   related_name="films")
    created_at = models.DateTimeField(auto_now_add=True)
    adopted_preset = models.ForeignKey("PresetVersion", null=True, blank=True,
                                       on_delete=models.PROTECT, related_name="adopted_by_films",
                                       help_text="The preset the full-film render uses.")
    is_demo = models.BooleanField(default=False)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.title} ({self.year})" if self.year else self.title

    def get_absolute_url(self) -> str:
        return reverse("film-detail", args=[self.pk])


class Clip(models.Model):
    class Status(models.TextChoices):
        INGESTING = "ingesting", _("ingesting")  # an image sequence being encoded
        PROBING = "probing", _("probing")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")

    film = models.ForeignKey(Film, on_delete=models.CASCADE, related_name="clips")
    title = models.CharField(max_length=200, blank=True)
    source = models.FileField(upload_to=clip_source_key, max_length=300)
    original_filename = models.CharField(max_length=255, blank=True)
    size_bytes = models.BigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PROBING)
    error = models.TextField(blank=True)
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL,
                                    related_name="clips")
    created_at = models.DateTimeField(auto_now_add=True)

    # Probed metadata (PyAV), first from the quick probe at upload, then exact.
    container = models.CharField(max_length=64, blank=True)
    video_codec = models.CharField(max_length=64, blank=True)
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    fps = models.FloatField(null=True, blank=True)
    fps_fraction = models.CharField(max_length=32, blank=True)
    frame_count = models.PositiveIntegerField(null=True, blank=True)
    frame_count_exact = models.BooleanField(default=False)
    duration = models.FloatField(null=True, blank=True, help_text="seconds")
    has_audio = models.BooleanField(default=False)
    audio_codec = models.CharField(max_length=64, blank=True)
    pix_fmt = models.CharField(max_length=32, blank=True)
    color_range = models.CharField(max_length=32, blank=True)
    color_space = models.CharField(max_length=32, blank=True)
    color_primaries = models.CharField(max_length=32, blank=True)
    color_trc = models.CharField(max_length=32, blank=True)
    sample_aspect_ratio = models.CharField(max_length=32, blank=True)
    bit_rate = models.BigIntegerField(null=True, blank=True)
    timecode = models.CharField(max_length=16, blank=True,
                                help_text="source timecode of frame 0 (\";\" drop-frame)")
    poster = models.FileField(max_length=300, blank=True)

    analysis = models.JSONField(null=True, blank=True)
    analysis_plot = models.FileField(max_length=300, blank=True)
    analysis_status = models.CharField(max_length=16, blank=True, default="")

    # An image-sequence upload waits here, in media storage, while a default-queue
    # worker encodes its master (status "ingesting"); removed once encoded.
    sequence_archive = models.FileField(max_length=300, blank=True)
    sequence_rate = models.CharField(max_length=32, blank=True,
                                     help_text="stated frame rate of the image sequence")
    sequence_members = models.JSONField(
        null=True, blank=True, help_text="[[name, size], ...] of loose frames stored one "
        "after another in sequence_archive; null when it is a zip")
    ingest_done = models.PositiveIntegerField(default=0, help_text="frames encoded so far")
    ingest_total = models.PositiveIntegerField(default=0, help_text="frames in the sequence")

    class Meta:
        ordering = ["film", "created_at"]

    def __str__(self) -> str:
        return self.title or self.original_filename or f"clip {self.pk}"

    def get_absolute_url(self) -> str:
        return reverse("clip-detail", args=[self.pk])

    def source_suffix(self) -> str:
        # The suffix follows the probed container, never the uploaded name.
        return {"mov,mp4,m4a,3gp,3g2,mj2": ".mp4", "matroska,webm": ".mkv", "avi": ".avi",
                "mpegts": ".ts", "mxf": ".mxf", "mpeg": ".mpg", "ogg": ".ogv"}.get(self.container, ".bin")

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else ""


class Preset(models.Model):
    """A named restoration recipe; its specs live in immutable-once-used versions."""

    name = models.CharField(max_length=120, unique=True)
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="presets")
    created_at = models.DateTimeField(auto_now_add=True)
    builtin = models.BooleanField(default=False, help_text="Shipped with the engine.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def latest(self) -> PresetVersion | None:
        return self.versions.order_by("-number").first()


class PresetVersion(models.Model):
    preset = models.ForeignKey(Preset, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    spec = models.JSONField(help_text="Pipeline spec: {ops: [{op, params}], seed}")
    spec_hash = models.CharField(max_length=64)
    note = models.CharField(max_length=300, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    locked = models.BooleanField(default=False, help_text="Used by a render: no longer editable.")

    class Meta:
        ordering = ["preset", "-number"]
        constraints = [models.UniqueConstraint(fields=["preset", "number"], name="unique_preset_version")]

    def __str__(self) -> str:
        return f"{self.preset.name} v{self.number}"

    def save(self, *args, **kwargs) -> None:
        if self.pk:
            stored = PresetVersion.objects.filter(pk=self.pk).values("spec_hash", "locked").first()
            if stored and stored["locked"] and stored["spec_hash"] != self.spec_hash:
                raise ValidationError(
                    f"{self} has been used by a render and is immutable; save a new version instead")
        super().save(*args, **kwargs)


class Variant(models.Model):
    """One clip rendered (an excerpt) with one preset version plus overrides."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        QUEUED = "queued", _("queued")
        RENDERING = "rendering", _("rendering")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="variants")
    preset_version = models.ForeignKey(PresetVersion, on_delete=models.PROTECT, related_name="variants")
    label = models.CharField(max_length=200, blank=True)
    overrides = models.JSONField(default=dict, blank=True)
    spec = models.JSONField(help_text="The effective spec: preset version with overrides applied.")
    spec_hash = models.CharField(max_length=64)
    start_frame = models.PositiveIntegerField(default=0)
    end_frame = models.PositiveIntegerField(null=True, blank=True)
    encode = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    output = models.FileField(max_length=300, blank=True,
                              help_text="The master, in the codec the spec asks for.")
    proxy = models.FileField(max_length=300, blank=True,
                             help_text="H.264 MP4 copy for the players; empty when the "
                                       "master is itself H.264 MP4.")
    frames = models.PositiveIntegerField(null=True, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["clip", "created_at"]
        constraints = [models.UniqueConstraint(
            fields=["clip", "spec_hash", "start_frame", "end_frame"], name="unique_variant_render")]

    def __str__(self) -> str:
        return self.label or f"{self.clip} · {self.preset_version}"

    @property
    def playable(self) -> Any:
        """What the players show: the proxy when there is one, else the master."""
        return self.proxy if self.proxy else self.output


class VariantComparison(models.Model):
    """How different two variants of one sweep look: ColorVideoVDP quality of B against
    A in JOD (10 = identical), measured on the GPU worker over a few frames of their
    renders, with a difference heat-map (see gpu_worker.engine.distinctness)."""

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DONE = "done", "done"
        FAILED = "failed", "failed"

    variant_a = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    variant_b = models.ForeignKey(Variant, on_delete=models.CASCADE, related_name="+")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    jod = models.FloatField(null=True, blank=True, help_text="Quality of B with A as the "
                            "reference, in JOD: 10 means the two cannot be told apart.")
    details = models.JSONField(default=dict, blank=True,
                               help_text="Per-frame JOD, frame positions, display model, time.")
    diff_map = models.FileField(max_length=300, blank=True,
                                help_text="Heat-map PNG of the frame where they differ most.")
    error = models.TextField(blank=True)
    task_id = models.CharField(max_length=80, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["variant_a", "variant_b"]
        constraints = [
            models.UniqueConstraint(fields=["variant_a", "variant_b"], name="unique_variant_pair"),
            models.CheckConstraint(condition=models.Q(variant_a__lt=models.F("variant_b")),
                                   name="variant_pair_ordered"),
        ]

    def __str__(self) -> str:
        return f"{self.variant_a_id} vs {self.variant_b_id}: {self.jod if self.jod is not None else self.status}"

    @property
    def difference(self) -> float | None:
        """10 - JOD: how far apart the two look (0 = the same picture)."""
        return None if self.jod is None else round(10.0 - self.jod, 3)


class RenderJob(models.Model):
    """A unit of GPU work and its live progress: a variant excerpt or a full-film render."""

    class Kind(models.TextChoices):
        VARIANT = "variant", _("variant")
        FILM = "film", _("full film")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        CANCELLED = "cancelled", _("cancelled")

    kind = models.CharField(max_length=16, choices=Kind.choices)
    variant = models.ForeignKey(Variant, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="jobs")
    film = models.ForeignKey(Film, null=True, blank=True, on_delete=models.CASCADE, related_name="jobs")
    preset_version = models.ForeignKey(PresetVersion, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="jobs")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    frames_done = models.PositiveIntegerField(default=0)
    frames_total = models.PositiveIntegerField(default=0)
    fps = models.FloatField(default=0.0)
    eta_seconds = models.FloatField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    cancel_requested = models.BooleanField(default=False)
    output = models.FileField(max_length=300, blank=True)
    proxy = models.FileField(max_length=300, blank=True,
                             help_text="Film renders: H.264 MP4 copy for the players; empty "
                                       "when the master is itself H.264 4:2:0 MP4.")
    poster = models.FileField(max_length=300, blank=True, help_text="Film renders: a still")
    error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True)
    task_ids = models.JSONField(default=list, blank=True,
                                help_text="Celery task ids dispatched for this job (to revoke on cancel).")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                   on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        target = self.variant or self.film
        return f"{self.get_kind_display()} job {self.pk} · {target}"

    @property
    def playable(self) -> Any:
        """What the players show: the proxy when there is one, else the master."""
        return self.proxy if self.proxy else self.output

    @property
    def topic(self) -> str:
        return f"job-{self.pk}"

    def progress_payload(self) -> dict:
        return {
            "type": "render.progress", "job": self.pk, "kind": self.kind, "status": self.status,
            "frames_done": self.frames_done, "frames_total": self.frames_total,
            "fps": round(self.fps, 2), "eta_seconds": self.eta_seconds, "error": self.error,
            "attempts": self.attempts, "variant": self.variant_id, "film": self.film_id,
        }


class RenderSegment(models.Model):
    """A scene-aligned piece of a full-film render; finished segments survive restarts."""

    job = models.ForeignKey(RenderJob, on_delete=models.CASCADE, related_name="segments")
    index = models.PositiveIntegerField()
    clip = models.ForeignKey(Clip, on_delete=models.CASCADE, related_name="+")
    start_frame = models.PositiveIntegerField()
    end_frame = models.PositiveIntegerField()
    status = models.CharField(max_length=16, choices=RenderJob.Status.choices,
                              default=RenderJob.Status.QUEUED)
    output = models.FileField(max_length=300, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    frames = models.PositiveIntegerField(null=True, blank=True)
    frames_done = models.PositiveIntegerField(default=0)
    fps = models.FloatField(default=0.0)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["job", "index"]
        constraints = [models.UniqueConstraint(fields=["job", "index"], name="unique_segment_index")]


class UploadSession(models.Model):
    """A resumable upload: chunks are appended to a staging file outside media storage;
    only a file that passed validation is moved into storage and becomes a Clip."""

    class Status(models.TextChoices):
        RECEIVING = "receiving", _("receiving")
        INGESTING = "ingesting", _("ingesting")  # a "complete" request is storing it
        COMPLETE = "complete", _("complete")
        REJECTED = "rejected", _("rejected")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    film = models.ForeignKey(Film, on_delete=models.CASCADE, related_name="uploads")
    filename = models.CharField(max_length=255)
    title = models.CharField(max_length=200, blank=True)
    frame_rate = models.CharField(max_length=32, blank=True,
                                  help_text="stated frame rate of an image-sequence zip")
    members = models.JSONField(
        null=True, blank=True, help_text="[[name, size], ...] of an upload of loose image "
        "frames, sent one after another into the one staging file; null for one file")
    size = models.BigIntegerField()
    received = models.BigIntegerField(default=0)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RECEIVING)
    error = models.TextField(blank=True)
    clip = models.OneToOneField(Clip, null=True, blank=True, on_delete=models.SET_NULL, related_name="upload")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return f"upload {self.id} ({self.filename})"

    @property
    def staging_path(self):
        return settings.UPLOAD_STAGING_DIR / f"{self.id.hex}.part"


class WorkLease(models.Model):
    """Who is doing one unit of work, until when, and how many times it was started.

    One row per unit (a clip's probe or analysis, a variant render, a film segment, a
    film's assembly), keyed by kind and the unit's row id. Dispatching a unit takes
    the lease (a fresh token, attempt + 1), the worker renews it with every progress
    report and the result releases it (`expires_at` None). restoration.sweeper
    re-dispatches a unit whose lease expired, up to `max_attempts`, then fails it
    with `last_error`. See restoration.leases.
    """

    class Kind(models.TextChoices):
        PROBE = "probe", "probe"
        ANALYSIS = "analysis", "analysis"
        VARIANT = "variant", "variant render"
        SEGMENT = "segment", "film segment"
        ASSEMBLY = "assembly", "film assembly"
        SEQUENCE = "sequence", "image sequence encode"

    kind = models.CharField(max_length=16, choices=Kind.choices)
    object_id = models.PositiveBigIntegerField(help_text="Clip (probe, analysis), RenderJob "
                                                         "(variant, assembly) or RenderSegment id")
    token = models.CharField(max_length=32, help_text="Changes with every dispatch: messages "
                                                      "carrying an older token are stale.")
    holder = models.CharField(max_length=200, blank=True, help_text="Task id of the dispatch.")
    attempt = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    started_at = models.DateTimeField(null=True, blank=True,
                                      help_text="When a worker first reported this attempt.")
    expires_at = models.DateTimeField(null=True, blank=True, db_index=True,
                                      help_text="None once released.")
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "object_id"], name="unique_work_lease")]

    def __str__(self) -> str:
        state = f"until {self.expires_at:%H:%M:%S}" if self.expires_at else "released"
        return f"{self.get_kind_display()} {self.object_id} · attempt {self.attempt} · {state}"
