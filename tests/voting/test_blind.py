"""Blind media copies: opaque names, one common size, valid MP4 padding, presigned S3
URLs, removal when the contest closes or goes (local folder and S3 through moto)."""

from __future__ import annotations

import re
import struct
import urllib.parse
import urllib.request
from pathlib import Path

import av
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from tests.factories import ClipFactory
from tests.media_factory import make_video
from tests.s3_server import s3_bucket, s3_endpoint  # noqa: F401  (fixtures)
from tests.voting.test_views import Fan
from tests.voting.voting_factories import make_contest, make_variant
from voting import blind, services
from voting.integrity import VotingError
from voting.models import BlindCopy, Contest, Pairing

pytestmark = pytest.mark.django_db

OPAQUE = re.compile(r"contests/[A-Za-z0-9_-]{16}/[A-Za-z0-9_-]{16}\.mp4")


@pytest.fixture(autouse=True)
def _settings(settings):
    settings.VOTING_BOOTSTRAP = 40
    settings.VOTING_POW_BITS = 8
    settings.VOTING_RATINGS_COOLDOWN = 0


@pytest.fixture
def videos(tmp_path) -> list[Path]:
    """Three real H.264 excerpts of clearly different sizes."""
    return [make_video(tmp_path / f"v{n}.mp4", frames=frames, width=64 * (n + 1), height=48)
            for n, frames in enumerate((12, 24, 36))]


def frame_count(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


# --------------------------------------------------------------------------- padding


def test_padding_appends_a_free_box_and_the_file_still_decodes(tmp_path, videos):
    original = videos[1].read_bytes()
    padded = tmp_path / "padded.mp4"
    padded.write_bytes(original)
    target = blind.padded_size([len(original)])
    assert target % blind.PAD_BLOCK == 0 and target >= len(original) + blind.FREE_HEADER
    blind.pad_mp4(padded, target)
    data = padded.read_bytes()
    assert len(data) == target and data[:len(original)] == original
    assert struct.unpack(">I4s", data[len(original):len(original) + 8]) == (target - len(original), b"free")
    assert [kind for _, kind, _, _ in blind.top_level_boxes(padded)][-1] == b"free"
    assert frame_count(padded) == frame_count(videos[1]) == 24


def test_a_last_box_running_to_the_end_gets_its_real_size_first(tmp_path):
    path = tmp_path / "open.mp4"
    path.write_bytes(b"\x00\x00\x00\x08moov" + struct.pack(">I4s", 0, b"mdat") + b"x" * 100)
    blind.pad_mp4(path, 4096)
    boxes = list(blind.top_level_boxes(path))
    assert [(kind, size) for _, kind, size, _ in boxes] == [(b"moov", 8), (b"mdat", 108), (b"free", 4096 - 116)]


@pytest.mark.parametrize("content, message", [
    (b"not a video at all", "not an MP4 file"),
    (b"\x00\x00\x00\x10ftypisom\x00\x00\x02\x00", "no movie box"),
    (b"\x00\x00\x01\x00moov", "no valid box"),
])
def test_padding_refuses_what_is_not_an_mp4(tmp_path, content, message):
    path = tmp_path / "bad.mp4"
    path.write_bytes(content)
    with pytest.raises(blind.BlindMediaError, match=message):
        blind.pad_mp4(path, 65536)
    assert path.read_bytes() == content  # untouched


def test_a_contest_over_a_file_that_cannot_be_padded_is_not_opened():
    clip = ClipFactory()
    variants = [make_variant(clip, 0), make_variant(clip, 1)]
    variants[1].output.save("broken.mp4", ContentFile(b"junk"))
    with pytest.raises(VotingError, match=rf"Variant {variants[1].pk} cannot be shown to fans: broken.*\.mp4 is not an MP4 file"):
        services.open_contest(clip=clip, variants=variants)
    assert not Contest.objects.exists() and not BlindCopy.objects.exists()
    # The copy already made of the first variant was removed again.
    assert not [p for p in Path(default_storage.location).glob("contests/**/*") if p.is_file()]


# --------------------------------------------------------------------------- local storage


def test_every_side_of_a_contest_is_served_with_one_size_and_an_opaque_name(videos):
    contest = make_contest(3, videos=videos, golden_rate=0)
    copies = list(BlindCopy.objects.filter(contest=contest).select_related("entry__variant"))
    assert len(copies) == 6 and len({c.name for c in copies}) == 6
    sizes = {c.size for c in copies} | {default_storage.size(c.name) for c in copies}
    assert len(sizes) == 1
    originals = {c.entry.variant.output.name for c in copies}
    for c in copies:
        assert OPAQUE.fullmatch(c.name), c.name
        assert not any(Path(o).stem in c.name for o in originals)
        local = Path(default_storage.path(c.name))
        assert frame_count(local) == frame_count(Path(c.entry.variant.output.path))
    # Through the voting API: every pair's two sides answer with the same length, in
    # whole and in ranges.
    fan = Fan(contest)
    lengths, ranges = set(), set()
    for _ in range(3):
        pair = fan.get("api/next/").json()
        for side in ("left", "right"):
            whole = fan.client.get(pair[side]["src"])
            body = b"".join(whole.streaming_content)
            lengths |= {int(whole["Content-Length"]), len(body)}
            part = fan.client.get(pair[side]["src"], HTTP_RANGE="bytes=100-")
            ranges.add(part["Content-Range"])
            assert b"".join(part.streaming_content) == body[100:]
        Pairing.objects.filter(pk=pair["pairing"]).update(answered=True)
    assert lengths == sizes and len(ranges) == 1


def test_two_contests_over_the_same_renders_share_no_name(videos):
    first = make_contest(2, videos=videos, golden_rate=0)
    variants = [e.variant for e in first.entries.all()]
    second = services.open_contest(clip=first.clip, variants=variants)
    names = {c: set(BlindCopy.objects.filter(contest=c).values_list("name", flat=True)) for c in (first, second)}
    folders = {c: {n.rsplit("/", 1)[0] for n in names[c]} for c in (first, second)}
    assert len(names[first]) == len(names[second]) == 4 and not names[first] & names[second]
    assert len(folders[first]) == len(folders[second]) == 1 and folders[first] != folders[second]


def test_an_identical_golden_pair_plays_two_different_copies(videos):
    contest = make_contest(2, videos=videos, golden_rate=0)
    fan = Fan(contest)
    entry = contest.entries.first()
    pairing = Pairing.objects.create(contest=contest, rater=fan.rater, left=entry, right=entry, is_golden=True,
                                     golden_kind=Pairing.GoldenKind.IDENTICAL, golden_expected="same")
    left, right = blind.copy_for(pairing, "left"), blind.copy_for(pairing, "right")
    assert left.entry_id == right.entry_id and left.name != right.name
    assert default_storage.open(left.name).read() == default_storage.open(right.name).read()


def test_copies_go_when_the_contest_closes_come_back_when_it_reopens_and_go_with_it(
        videos, django_capture_on_commit_callbacks):
    contest = make_contest(2, videos=videos, golden_rate=0)
    fan = Fan(contest)
    src = fan.get("api/next/").json()["left"]["src"]
    first = list(BlindCopy.objects.filter(contest=contest).values_list("name", flat=True))
    assert all(default_storage.exists(n) for n in first)
    with django_capture_on_commit_callbacks(execute=True):
        services.close_contest(contest)
    assert not BlindCopy.objects.filter(contest=contest).exists()
    assert not any(default_storage.exists(n) for n in first)
    assert fan.client.get(src).status_code == 404  # and a closed contest makes no new copies
    assert not BlindCopy.objects.filter(contest=contest).exists()
    services.reopen_contest(contest)
    again = list(BlindCopy.objects.filter(contest=contest).values_list("name", flat=True))
    assert len(again) == 4 and not set(again) & set(first)
    with django_capture_on_commit_callbacks(execute=True):
        Contest.objects.filter(pk=contest.pk).delete()
    assert not any(default_storage.exists(n) for n in again)


def test_a_decided_contest_keeps_no_copies(videos, django_capture_on_commit_callbacks):
    contest = make_contest(2, videos=videos, golden_rate=0)
    names = list(BlindCopy.objects.filter(contest=contest).values_list("name", flat=True))
    with django_capture_on_commit_callbacks(execute=True):
        assert services.decide_contest(contest, "A", "test")
    assert not BlindCopy.objects.exists() and not any(default_storage.exists(n) for n in names)


def test_a_contest_without_copies_gets_them_on_first_serve(videos):
    contest = make_contest(2, videos=videos, golden_rate=0)
    BlindCopy.objects.filter(contest=contest).delete()  # as if opened before copies existed
    fan = Fan(contest)
    pair = fan.get("api/next/").json()
    assert fan.client.get(pair["right"]["src"]).status_code == 200
    assert BlindCopy.objects.filter(contest=contest).count() == 4


# --------------------------------------------------------------------------- S3 (moto)


@pytest.fixture
def s3_storage(settings, s3_bucket, s3_endpoint):  # noqa: F811  (the imported fixtures)
    settings.STORAGES = {**settings.STORAGES, "default": {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {"bucket_name": s3_bucket, "endpoint_url": s3_endpoint, "access_key": "testing",
                    "secret_key": "testing", "region_name": "us-east-1", "location": "media",
                    "file_overwrite": False, "default_acl": None, "querystring_auth": True,
                    "signature_version": "s3v4"}}}
    settings.VOTING_BLIND_URL_SECONDS = 120
    import boto3

    client = boto3.client("s3", endpoint_url=s3_endpoint, aws_access_key_id="testing",
                          aws_secret_access_key="testing", region_name="us-east-1")
    return client, s3_bucket


def _keys(client, bucket: str, prefix: str = "media/contests/") -> set[str]:
    answer = client.list_objects_v2(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for o in answer.get("Contents", [])}


def test_on_s3_fans_get_short_presigned_urls_of_opaque_padded_copies(
        s3_storage, videos, django_capture_on_commit_callbacks):
    client, bucket = s3_storage
    contest = make_contest(3, videos=videos, golden_rate=0)
    keys = _keys(client, bucket)
    assert len(keys) == 6 and all(OPAQUE.fullmatch(k.removeprefix("media/")) for k in keys)
    sizes = {client.head_object(Bucket=bucket, Key=k)["ContentLength"] for k in keys}
    assert len(sizes) == 1
    fan = Fan(contest)
    pair = fan.get("api/next/").json()
    pairing = Pairing.objects.select_related("left__variant", "right__variant").get(pk=pair["pairing"])
    identifying = {str(pairing.left.variant_id), str(pairing.right.variant_id), str(contest.clip_id),
                   str(pairing.left.pk), str(pairing.right.pk)}
    for side, entry in (("left", pairing.left), ("right", pairing.right)):
        response = fan.client.get(pair[side]["src"])
        assert response.status_code == 302 and response["Cache-Control"] == "no-store"
        url = urllib.parse.urlsplit(response["Location"])
        query = urllib.parse.parse_qs(url.query)
        key = url.path.removeprefix(f"/{bucket}/")
        # Nothing in the URL names the variant, its render or its clip.
        assert OPAQUE.fullmatch(key.removeprefix("media/")) and key in keys
        segments = re.split(r"[/._-]", url.path)
        assert not identifying & set(segments)
        assert Path(entry.variant.output.name).stem not in response["Location"]
        # Presigned (SigV4) and short-lived.
        assert query["X-Amz-Expires"] == ["120"] and "X-Amz-Signature" in query
        body = urllib.request.urlopen(response["Location"]).read()
        with entry.variant.output.open("rb") as handle:
            rendered = handle.read()
        assert body.startswith(rendered) and len(body) in sizes
        assert body[len(rendered) + 4:len(rendered) + 8] == b"free"
        ranged = urllib.request.urlopen(urllib.request.Request(response["Location"],
                                                               headers={"Range": "bytes=10-19"}))
        assert ranged.status == 206 and ranged.read() == body[10:20]
    pairing.refresh_from_db()
    assert pairing.media_left_requests == pairing.media_right_requests == 1
    # An identical golden pair: two different objects, the same bytes.
    entry = pairing.left
    golden = Pairing.objects.create(contest=contest, rater=fan.rater, left=entry, right=entry, is_golden=True,
                                    golden_kind=Pairing.GoldenKind.IDENTICAL, golden_expected="same")
    urls = [blind.remote_url(blind.copy_for(golden, side)) for side in ("left", "right")]
    paths = [urllib.parse.urlsplit(u).path for u in urls]
    assert paths[0] != paths[1]
    assert urllib.request.urlopen(urls[0]).read() == urllib.request.urlopen(urls[1]).read()
    # Closing removes every object.
    with django_capture_on_commit_callbacks(execute=True):
        services.close_contest(contest)
    assert _keys(client, bucket) == set()
    assert _keys(client, bucket, "media/")  # the renders themselves stay
