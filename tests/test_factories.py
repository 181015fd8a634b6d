"""Every factory makes a row that passes the model's own validation (fields and
constraints), and specs are canonical, as the engine would store them."""

from __future__ import annotations

import pytest

from gpu_worker.engine.spec import apply_overrides, parse_spec
from restoration.models import RenderJob
from tests import factories as f
from tests.restoration.curation import factories as cf
from tests.voting import factories as vf

pytestmark = pytest.mark.django_db

ALL = [f.UserFactory, f.LiveEventFactory, f.FilmFactory, f.ClipFactory, f.PresetFactory,
       f.PresetVersionFactory, f.VariantFactory, f.VariantComparisonFactory, f.RenderJobFactory, f.RenderSegmentFactory,
       f.UploadSessionFactory, cf.ReviewFactory, cf.ReviewEventFactory, cf.ReviewNoteFactory,
       cf.PublicationFactory, vf.ContestFactory, vf.ContestEntryFactory, vf.RaterFactory,
       vf.PairingFactory, vf.GoldenPairingFactory, vf.BallotFactory, vf.ScreeningCodeFactory,
       vf.ExclusionFactory]
# Who made a film or uploaded a clip may be unknown (NULL, set null when the user goes),
# although the model's forms ask for it: the factories leave it empty.
AUTHORS = {"created_by", "uploaded_by"}


@pytest.mark.parametrize("factory", ALL, ids=lambda factory: factory.__name__)
def test_factory_rows_are_valid(factory, settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    first, second = factory(), factory()
    for row in (first, second):
        row.full_clean(exclude=AUTHORS)
    assert first.pk != second.pk


def test_specs_are_canonical_and_variants_apply_their_overrides():
    version = f.PresetVersionFactory()
    assert version.spec == parse_spec(version.spec).to_dict()
    assert version.spec_hash == parse_spec(version.spec).spec_hash
    plain = f.VariantFactory(preset_version=version)
    assert (plain.spec, plain.spec_hash) == (version.spec, version.spec_hash)
    tuned = f.VariantFactory(clip=plain.clip, preset_version=version, overrides={"grain.strength": 0.05})
    effective = apply_overrides(version.spec, {"grain.strength": 0.05})
    assert (tuned.spec, tuned.spec_hash) == (effective.to_dict(), effective.spec_hash)
    assert tuned.spec_hash != plain.spec_hash
    assert f.PresetVersionFactory(preset=version.preset).number == 2


def test_render_job_kind_follows_its_target():
    variant_job = f.RenderJobFactory(variant=f.VariantFactory())
    film_job = f.RenderJobFactory()
    assert (variant_job.kind, variant_job.film) == (RenderJob.Kind.VARIANT, None)
    assert film_job.kind == RenderJob.Kind.FILM and film_job.film is not None


def test_ballot_pair_key_is_ordered_whatever_the_sides():
    pairing = vf.PairingFactory()
    ballot = vf.BallotFactory(pairing=vf.PairingFactory(contest=pairing.contest, left=pairing.right,
                                                        right=pairing.left))
    assert ballot.entry_low_id == min(pairing.left_id, pairing.right_id)
    assert ballot.entry_high_id == max(pairing.left_id, pairing.right_id)
    assert ballot.contest == ballot.pairing.contest and ballot.rater == ballot.pairing.rater
