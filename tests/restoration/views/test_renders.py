"""Pages for presets, sweeps, render jobs and the full-film render."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse
from django.utils.html import escape

from restoration.models import Preset, RenderJob, Variant
from restoration.services import presets
from tests.factories import UserFactory, technician
from tests.media_factory import make_video
from tests.restoration.clip_helpers import cheap_spec, ready_clip

pytestmark = pytest.mark.django_db


@pytest.fixture
def tech_client(client):
    client.force_login(technician())
    return client


@pytest.fixture
def clip(tmp_path):
    return ready_clip(make_video(tmp_path / "c.mp4", frames=30, width=64, height=48))


@pytest.fixture
def no_dispatch(monkeypatch):
    sent = []
    monkeypatch.setattr("restoration.rendering.variants.send_job", lambda payload, task_id: sent.append(payload))
    monkeypatch.setattr("restoration.tasks.plan_film_render.delay", lambda job_id: sent.append(job_id))
    return sent


def test_pages_need_the_staff_roles(client):
    client.force_login(UserFactory())
    assert client.get(reverse("preset-list")).status_code == 403
    client.logout()
    assert client.get(reverse("preset-list")).status_code == 302


def test_preset_list_seeds_builtins_and_offers_import(tech_client):
    page = tech_client.get(reverse("preset-list")).content.decode()
    assert "faithful" in page and "clean" in page and 'id="preset-import"' in page


def test_editor_form_is_generated_from_the_schema_and_saves(tech_client):
    page = tech_client.get(reverse("preset-new") + "?start=faithful").content.decode()
    assert 'name="op-0-op" value="deflicker"' in page and 'name="op-0-strength"' in page
    assert "max=" in page and "Operator reference" in page
    data = {"op_count": "1", "op-0-op": "colour_scheme", "op-0-keep": "on", "op-0-order": "0",
            "op-0-look": "sepia", "op-0-amount": "0.7", "seed": "2", "encode-codec": "h264",
            "encode-crf": "20", "name": "Sepia", "action": "save"}
    response = tech_client.post(reverse("preset-new") + "?start=faithful", data)
    preset = Preset.objects.get(name="Sepia")
    assert response.status_code == 302 and response.url == reverse("preset-detail", args=[preset.pk])
    assert preset.latest.spec["ops"][0]["params"] == {"look": "sepia", "amount": 0.7}
    # An out-of-range value comes back with the engine's message, nothing saved.
    bad = tech_client.post(reverse("preset-version-edit", args=[preset.latest.pk]),
                           {**data, "op-0-amount": "7", "action": "save"})
    assert bad.status_code == 200 and "colour_scheme.amount" in bad.content.decode()
    assert preset.versions.count() == 1


def test_export_and_import_through_the_pages(tech_client):
    version = presets.create_preset("Exported", cheap_spec(), user=None)
    response = tech_client.get(reverse("preset-version-export", args=[version.pk]))
    assert response["Content-Disposition"].startswith("attachment")
    exported = json.loads(response.content)
    assert exported["spec_hash"] == version.spec_hash
    response = tech_client.post(reverse("preset-import"), {"json": json.dumps(exported), "name": "Copy"})
    assert Preset.objects.get(name="Copy").latest.spec_hash == version.spec_hash
    response = tech_client.post(reverse("preset-import"), {"json": "{oops"}, follow=True)
    assert "Import failed: not valid JSON" in response.content.decode()


def test_sweep_page_creates_variants(tech_client, clip, no_dispatch, django_capture_on_commit_callbacks):
    version = presets.create_preset("Base", cheap_spec(), user=None)
    page = tech_client.get(reverse("clip-sweep", args=[clip.pk]) + f"?version={version.pk}").content.decode()
    assert "colour_scheme.amount" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = tech_client.post(reverse("clip-sweep", args=[clip.pk]), {
            "version": version.pk, "action": "create", "axis-0-key": "colour_scheme.amount",
            "axis-0-values": "0, 0.5", "axis-1-key": "colour_scheme.look",
            "axis-1-values": "neutral, sepia", "start": "2", "end": "10"})
    assert response.status_code == 302
    assert Variant.objects.filter(clip=clip).count() == 4 and len(no_dispatch) == 4
    page = tech_client.get(clip.get_absolute_url()).content.decode()
    assert page.count("ReelRender.watchJob") >= 1 and 'id="variant-table"' in page
    job = RenderJob.objects.first()
    assert f'id="job-{job.pk}-bar"' in page
    too_many = tech_client.post(reverse("clip-sweep", args=[clip.pk]), {
        "version": version.pk, "action": "create", "axis-0-key": "seed",
        "axis-0-values": ",".join(str(i) for i in range(13))})
    assert "at most 12 are allowed" in too_many.content.decode()


def test_cancel_from_the_page(tech_client, clip, no_dispatch, monkeypatch):
    from config.celery import app

    monkeypatch.setattr(app.control, "revoke", lambda *a, **k: None)
    version = presets.create_preset("Base", cheap_spec(), user=None)
    from restoration.rendering import sweeps

    variant = sweeps.create_sweep(clip, version, {}, start=0, end=5)[0]
    job = variant.jobs.get()
    tech_client.post(reverse("job-cancel", args=[job.pk]), {"next": clip.get_absolute_url()})
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_film_render_page_starts_a_render(tech_client, clip, no_dispatch,
                                          django_capture_on_commit_callbacks):
    version = presets.create_preset("Film", cheap_spec(), user=None)
    url = reverse("film-render", args=[clip.film_id])
    assert "Render the film" in tech_client.get(url).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        tech_client.post(url, {"version": version.pk})
    job = RenderJob.objects.get(kind="film")
    assert job.film_id == clip.film_id and job.frames_total == 30 and no_dispatch == [job.pk]
    assert f'data-job="{job.pk}"' in tech_client.get(url).content.decode()


def test_clip_page_shows_the_analysis_and_auto_starts_from_it(tech_client, clip):
    from restoration.services.clip_analysis import analyze_clip

    analyze_clip(clip)
    clip.refresh_from_db()
    assert clip.analysis_status == "done"
    page = tech_client.get(clip.get_absolute_url()).content.decode()
    # The plot is drawn in the page's language from the stored report.
    assert 'id="analysis-plot"' in page and reverse("clip-analysis-plot", args=[clip.pk]) + "?lang=en" in page
    assert "Compose a preset from this analysis" in page and "Shots" in page
    editor = tech_client.get(reverse("preset-new") + f"?start=auto&clip={clip.pk}")
    assert editor.status_code == 200 and "New preset (from automatic)" in editor.content.decode()


def test_the_editor_shows_the_engines_words_in_chinese_and_keeps_its_codes(tech_client):
    from gpu_worker.engine.schema import get_operator_schema

    deflicker = get_operator_schema("deflicker")
    radius = next(p for p in deflicker.params if p.name == "radius")
    page = tech_client.get(reverse("preset-new") + "?start=faithful", HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "新建预设（起点：忠于原片）" in page
    # Operator, category, parameter, unit, choice and region by their words …
    assert "1. 去闪烁</strong>" in page and '<span class="muted">影调</span></legend>' in page
    assert "<span>半径 (帧) <code" in page
    assert '<code translate="no">deflicker</code>' in page and '<code translate="no">radius</code>' in page
    assert ">影调曲线</option>" in page and ">整个画面</option>" in page and "(帧)" in page
    # … the help texts translated, as text and as the label's tooltip …
    assert escape(deflicker.description) not in page and escape(radius.description) not in page
    assert "去除亮度闪烁" in page and 'title="作为参考曝光的前后帧数' in page
    # … and the form still posts the engine's codes.
    assert 'name="op-0-op" value="deflicker"' in page and '<option value="tone" selected>' in page
    assert '<option value="all" selected>' in page
    english = tech_client.get(reverse("preset-new") + "?start=faithful", HTTP_ACCEPT_LANGUAGE="en").content.decode()
    assert escape(deflicker.description) in english and escape(radius.description) in english
    assert "New preset (from faithful)" in english


def test_a_builtin_presets_page_reads_in_chinese_and_a_technicians_as_written(tech_client):
    from gpu_worker.engine.presets import CLEAN

    presets.ensure_builtin_presets()
    clean = Preset.objects.get(name="clean", builtin=True)
    page = tech_client.get(reverse("preset-detail", args=[clean.pk]), HTTP_ACCEPT_LANGUAGE="zh-HK").content.decode()
    assert CLEAN.description not in page and "現代的畫面" in page and "<h1>潔淨" in page
    assert "去閃爍 → 除塵" in page  # the operators by their names
    own = presets.create_preset("My look", cheap_spec(), user=None, description="Warm and soft")
    page = tech_client.get(reverse("preset-detail", args=[own.preset_id]), HTTP_ACCEPT_LANGUAGE="zh-HK").content.decode()
    assert "<h1>My look" in page and "Warm and soft" in page
    listing = tech_client.get(reverse("preset-list"), HTTP_ACCEPT_LANGUAGE="zh-HK").content.decode()
    assert f'{clean.pk}/">潔淨</a>' in listing and "現代的畫面" in listing and CLEAN.description not in listing
    assert f'{own.preset_id}/">My look</a>' in listing and "Warm and soft" in listing


def test_editor_offers_a_region_per_op_and_saves_it(tech_client):
    page = tech_client.get(reverse("preset-new") + "?start=clean").content.decode()
    # Every op of "clean" keeps size and rate, so each has a region selector.
    assert 'name="op-0-region"' in page and '<option value="background">' in page
    data = {"op_count": "2", "seed": "0", "name": "Faces crisp", "action": "save",
            "op-0-op": "sharpen", "op-0-keep": "on", "op-0-order": "0", "op-0-region": "face",
            "op-0-amount": "1.0", "op-0-radius": "1.2", "op-0-threshold": "3",
            "op-0-luma_only": "on",
            "op-1-op": "resize", "op-1-keep": "on", "op-1-order": "1", "op-1-width": "0",
            "op-1-height": "0", "op-1-scale": "1", "op-1-method": "lanczos",
            "op-1-keep_aspect": "on", "op-1-even": "on"}
    response = tech_client.post(reverse("preset-new") + "?start=clean", data)
    preset = Preset.objects.get(name="Faces crisp")
    assert response.status_code == 302
    assert preset.latest.spec["ops"][0]["region"] == "face"
    assert "region" not in preset.latest.spec["ops"][1]
    edit = tech_client.get(reverse("preset-version-edit", args=[preset.latest.pk])).content.decode()
    assert '<option value="face" selected>' in edit
    assert 'name="op-1-region"' not in edit  # resize changes the size: no selector
    # A region on an op that changes the size is refused with the engine's message.
    bad = tech_client.post(reverse("preset-version-edit", args=[preset.latest.pk]),
                           {**data, "op-1-region": "face"})
    assert bad.status_code == 200 and "cannot be limited to a region" in bad.content.decode()
    assert preset.versions.count() == 1


def test_sweep_from_auto_inserting_grain(tech_client, clip, no_dispatch,
                                          django_capture_on_commit_callbacks):
    url = reverse("clip-sweep", args=[clip.pk])
    page = tech_client.get(url + "?version=auto").content.decode()
    assert "has no analysis yet" in page and 'id="sweep-form"' not in page
    from restoration.services.clip_analysis import analyze_clip

    analyze_clip(clip)
    page = tech_client.get(url + "?version=auto").content.decode()
    assert 'id="sweep-form"' in page and 'value="grain.strength"' in page
    assert "Added at their usual place" in page
    with django_capture_on_commit_callbacks(execute=True):
        response = tech_client.post(url, {"version": "auto", "action": "create",
                                          "axis-0-key": "grain.strength", "axis-0-values": "0, 3, 6",
                                          "start": "0", "end": "8"})
    assert response.status_code == 302
    made = Variant.objects.filter(clip=clip)
    assert made.count() == 3 and len(no_dispatch) == 3
    version = made.first().preset_version
    assert version.preset.name == "auto" and version.locked
    assert {v.spec["ops"][-1]["params"]["strength"] for v in made} == {0, 3, 6}


def test_clip_page_warns_about_variants_that_look_alike(tech_client, monkeypatch,
                                                        django_capture_on_commit_callbacks):
    from restoration import queue
    from tests.factories import VariantComparisonFactory

    close = VariantComparisonFactory(variant_a__overrides={"denoise.strength": 0.3},
                                     variant_a__preset_version__recipe={"ops": ["denoise"]},
                                     variant_b__overrides={"denoise.strength": 2.0}, jod=9.76)
    clip = close.variant_a.clip
    page = tech_client.get(clip.get_absolute_url()).content.decode()
    assert f'id="indistinct-{close.pk}"' in page and "0.24 JOD" in page
    assert "denoise · strength" in page and "further apart" in page
    assert 'id="compare-form"' in page
    # Measured far apart: no warning, the difference shown.
    VariantComparisonFactory._meta.model.objects.filter(pk=close.pk).update(jod=8.0)
    page = tech_client.get(clip.get_absolute_url()).content.decode()
    assert f'id="indistinct-{close.pk}"' not in page and "2.00 JOD" in page
    # On demand: the button queues the sweep's comparisons again.
    sent = []
    monkeypatch.setattr(queue, "send_with_id", lambda *args: sent.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        response = tech_client.post(reverse("clip-compare-variants", args=[clip.pk]),
                                    {"variant": close.variant_a.pk, "again": "1"})
    assert response.status_code == 302 and len(sent) == 1
    assert sent[0][0] == queue.COMPARE_VARIANTS


def test_sweep_page_and_look_alike_warnings_in_chinese(tech_client, clip):
    from restoration.services.clip_analysis import analyze_clip
    from tests.factories import VariantComparisonFactory

    close = VariantComparisonFactory(variant_a__overrides={"denoise.strength": 0.3},
                                     variant_a__preset_version__recipe={"ops": ["denoise"]},
                                     variant_b__overrides={"denoise.strength": 2.0}, jod=9.76)
    page = tech_client.get(close.variant_a.clip.get_absolute_url(), HTTP_ACCEPT_LANGUAGE="zh-HK").content.decode()
    assert "各變體看起來有多不同" in page and "只相差 0.24 JOD" in page
    assert "在這裏看起來差不多；請試試相差更大的取值" in page  # the suggestion, too
    url = reverse("clip-sweep", args=[clip.pk]) + "?version=auto"
    page = tech_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert "还没有分析结果" in page
    analyze_clip(clip)
    page = tech_client.get(url, HTTP_ACCEPT_LANGUAGE="zh-CN").content.decode()
    assert 'label="加到其通常位置"' in page and "添加 胶片颗粒" in page and "默认 " in page
    assert "胶片颗粒 · 力度 ([0.0, 40.0] 8 位色阶)" in page and "grain.strength (" not in page
    assert "Added at their usual place" not in page
