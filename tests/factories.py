"""factory_boy factories for the accounts, frontend and restoration models.

The voting and curation models have theirs next to their tests:
tests/voting/factories.py and tests/restoration/curation/factories.py.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import factory
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.utils import timezone

from accounts.models import User
from frontend.models import LiveEvent
from gpu_worker.engine.spec import apply_overrides, parse_spec
from restoration.models import (
    Clip,
    Film,
    Preset,
    PresetVersion,
    RenderJob,
    RenderSegment,
    UploadSession,
    Variant,
    VariantComparison,
    WorkLease,
)

MP4_CONTAINER = "mov,mp4,m4a,3gp,3g2,mj2"  # what the probe reports for an .mp4
# A stub render: MP4 boxes (file type, an empty movie, a little media data) and no
# picture; enough for code that copies or pads files without decoding them.
STUB_MP4 = (b"\x00\x00\x00\x14ftypisom\x00\x00\x02\x00isom" + b"\x00\x00\x00\x08moov"
            + b"\x00\x00\x00\x1amdatnot really a video")


def stored_file(path: str | Path, name: str) -> ContentFile:
    """The bytes of a real file, to be written to storage as ``name`` when the row is saved."""
    return ContentFile(Path(path).read_bytes(), name=name)


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"user{n}")
    password = factory.PostGenerationMethodCall("set_password", "pass-word-1")

    @factory.post_generation
    def roles(self, create, extracted, **kwargs):
        if create and extracted:
            # get_or_create: transactional tests flush the groups the migration made.
            self.groups.add(*(Group.objects.get_or_create(name=name)[0] for name in extracted))
        if create:
            self.save()


def technician(**kwargs) -> User:
    return UserFactory(roles=["technician"], **kwargs)


def curator(**kwargs) -> User:
    return UserFactory(roles=["curator"], **kwargs)


class LiveEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LiveEvent

    topic = factory.Sequence(lambda n: f"job-{n}")
    payload = factory.LazyFunction(lambda: {"type": "render.progress"})


class FilmFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Film

    title = factory.Sequence(lambda n: f"Film {n}")
    year = 1925


class ClipFactory(factory.django.DjangoModelFactory):
    """A ready clip whose source is only a name in storage (no file), unless
    ``source_path`` names a real video, which is then stored as the source.
    ``probing=True``: a clip just uploaded, its probe not yet run. ``ingesting=True``: an
    image sequence whose master a worker is encoding (no source yet)."""

    class Meta:
        model = Clip

    class Params:
        source_path = None
        probing = factory.Trait(status=Clip.Status.PROBING, title="", fps=None, width=None, height=None,
                                container=MP4_CONTAINER)
        ingesting = factory.Trait(status=Clip.Status.INGESTING, title="", fps=None, width=None,
                                  height=None, source="", sequence_archive="clips/test/sequence.zip",
                                  sequence_rate="24/1", ingest_done=40, ingest_total=240)

    film = factory.SubFactory(FilmFactory)
    title = "Reel 1"
    source = factory.LazyAttribute(
        lambda o: stored_file(o.source_path, "source") if o.source_path else "clips/test/source.mp4")
    status = Clip.Status.READY
    fps = 24.0
    width = 64
    height = 48


class PresetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Preset
        django_get_or_create = ("name",)

    name = factory.Sequence(lambda n: f"preset {n}")


def default_recipe(n: int) -> dict:
    # The seed differs from one version to the next, so that variants of the same clip
    # made from different versions have different spec hashes.
    return {"ops": [{"op": "grain", "params": {"strength": 0.3}}], "seed": n}


class PresetVersionFactory(factory.django.DjangoModelFactory):
    """A version whose spec is canonical (``parse_spec(recipe).to_dict()``). A ``spec``
    given outright is stored as given; its hash is still the canonical one."""

    class Meta:
        model = PresetVersion

    class Params:
        recipe = factory.Sequence(default_recipe)

    preset = factory.SubFactory(PresetFactory)
    number = factory.LazyAttribute(lambda o: o.preset.versions.count() + 1)
    spec = factory.LazyAttribute(lambda o: parse_spec(o.recipe).to_dict())
    spec_hash = factory.LazyAttribute(lambda o: parse_spec(o.spec).spec_hash)


def effective_spec(o) -> dict:
    """The variant's spec: its preset version's, with the overrides applied."""
    if o.overrides:
        return apply_overrides(o.preset_version.spec, o.overrides).to_dict()
    return dict(o.preset_version.spec)


class VariantFactory(factory.django.DjangoModelFactory):
    """A finished excerpt render. Its output is a stub file named ``output_name``, or the
    real video at ``output_path``; pass ``output`` to point at a name already stored."""

    class Meta:
        model = Variant

    class Params:
        output_path = None
        output_name = factory.LazyAttribute(lambda o: f"{o.label or 'variant'}.mp4".replace(" ", "-"))

    clip = factory.SubFactory(ClipFactory)
    preset_version = factory.SubFactory(PresetVersionFactory)
    label = factory.Sequence(lambda n: f"variant {n}")
    overrides = factory.LazyFunction(dict)
    spec = factory.LazyAttribute(effective_spec)
    spec_hash = factory.LazyAttribute(lambda o: parse_spec(o.spec).spec_hash)
    start_frame = 0
    end_frame = 48
    status = Variant.Status.DONE
    output = factory.LazyAttribute(
        lambda o: stored_file(o.output_path, o.output_name) if o.output_path
        else ContentFile(STUB_MP4, name=o.output_name))


class VariantComparisonFactory(factory.django.DjangoModelFactory):
    """Two variants of one sweep (same clip, version and excerpt) measured apart; B is
    made after A, so the pair is in its stored order (A's id below B's)."""

    class Meta:
        model = VariantComparison

    variant_a = factory.SubFactory(VariantFactory)
    variant_b = factory.SubFactory(VariantFactory, clip=factory.SelfAttribute("..variant_a.clip"),
                                   preset_version=factory.SelfAttribute("..variant_a.preset_version"),
                                   # a seed the base's spec does not have, so the two differ
                                   overrides=factory.LazyAttribute(lambda o: {"seed": int(
                                       o.factory_parent.variant_a.spec.get("seed") or 0) + 1}))
    status = VariantComparison.Status.DONE
    jod = 8.5
    details = factory.LazyFunction(lambda: {"per_frame": [8.5], "positions": [24]})


class RenderJobFactory(factory.django.DjangoModelFactory):
    """A variant job when given a ``variant``, otherwise a full-film job of a new film.
    ``output_path``: a real video stored as the job's output (``output_name``)."""

    class Meta:
        model = RenderJob

    class Params:
        output_path = None
        output_name = "film.mp4"

    variant = None
    kind = factory.LazyAttribute(lambda o: RenderJob.Kind.VARIANT if o.variant else RenderJob.Kind.FILM)
    film = factory.Maybe("variant", yes_declaration=None, no_declaration=factory.SubFactory(FilmFactory))
    output = factory.LazyAttribute(
        lambda o: stored_file(o.output_path, o.output_name) if o.output_path else "")


class RenderSegmentFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = RenderSegment

    job = factory.SubFactory(RenderJobFactory)
    index = factory.Sequence(int)
    clip = factory.SubFactory(ClipFactory, film=factory.SelfAttribute("..job.film"))
    start_frame = 0
    end_frame = 24


class UploadSessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = UploadSession

    film = factory.SubFactory(FilmFactory)
    filename = "reel.mp4"
    size = 10
    created_by = factory.SubFactory(UserFactory)


class WorkLeaseFactory(factory.django.DjangoModelFactory):
    """A lease held on a variant job's render, expiring in five minutes."""

    class Meta:
        model = WorkLease

    kind = WorkLease.Kind.VARIANT
    object_id = factory.LazyAttribute(lambda o: RenderJobFactory(variant=VariantFactory(status="queued")).pk)
    token = factory.Sequence(lambda n: f"token{n:04d}")
    attempt = 1
    expires_at = factory.LazyFunction(lambda: timezone.now() + timedelta(minutes=5))
