"""restoration.engine_text: the engine's codes worded in the visitor's language. In
English the words are the engine's own (a finding reads exactly as the engine wrote
it); in Chinese no Latin word is left; an unknown code is shown as it is."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import polib
import pytest
from django.utils import timezone, translation

from gpu_worker.engine import analysis
from gpu_worker.engine.schema import BUILTIN_SCHEMAS, get_operator_schema
from restoration import engine_text
from restoration.sweeper import give_up_reason
from tests.factories import VariantFactory, WorkLeaseFactory

REPO = Path(__file__).resolve().parents[2]
LATIN_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9_]+")

SUMMARY = {
    "flicker": {"index": 0.0462, "level": "strong"},
    "dust": {"per_frame": 45.357, "level": "strong"},
    "blotches": {"per_frame": 0.59, "level": "moderate"},
    "scratches": {"frames_fraction": 0.2083, "level": "mild"},
    "noise": {"median": 0.0235, "level": "moderate"},
    "colour": {"faded": True, "contrast": 0.561, "black": 0.243, "floor": 0.118, "fade_confidence": 0.8,
               "cast": "sepia", "cast_r": 0.12, "cast_b": -0.17, "neutral_r": 0.11, "neutral_b": -0.16,
               "cast_confidence": 0.7, "monochrome": True},
    "detail": {"soft": True, "median": 0.21},
    "repeats": {"count": 12, "fraction": 0.5, "cadence": 2},
    "drops": {"count": 2},
    "scenes": {"count": 3, "cuts": [10, 32]},
    "faces": {"frames_with_faces": 4, "frames_checked": 12},
}
INTERLACE = [
    {"telecine": {"field_order": "tff", "offset": 2}, "interlaced": True},
    {"telecine": {"field_order": "bff", "offset": 0, "breaks": [{"frame": 41}]}, "interlaced": True},
    {"telecine": {"field_order": "tff", "offset": 3, "breaks": [{"frame": 41, "offset": 1},
                                                               {"frame": 97, "offset": 4}]},
     "interlaced": True},
    {"telecine": None, "interlaced": True, "field_order": "bff", "stream_field_order": "unknown",
     "picture_field_order": "bff", "combed_fraction": 0.83},
]


def every_finding() -> list[dict]:
    """Every kind of finding the engine writes, from the engine itself."""
    found = analysis._findings(SUMMARY)
    found += [f for il in INTERLACE for f in analysis._interlace_findings(il)]
    found += analysis._source_findings({"bits_per_pixel": 0.253})
    return found


def test_the_engine_gives_each_finding_a_kind_and_its_figures():
    found = every_finding()
    assert {f["kind"] for f in found} == {"flicker", "dust", "blotches", "scratches", "noise", "fade", "cast",
                                          "soft", "repeats", "drops", "scenes", "faces", "telecine",
                                          "interlaced", "compressed"}
    assert all(isinstance(f["params"], dict) and f["params"] for f in found)


def test_in_english_every_finding_reads_as_the_engine_wrote_it():
    with translation.override("en"):
        for finding in every_finding():
            if finding["kind"] == "interlaced":  # the engine quotes the pictures' order by its code
                assert engine_text.finding_text(finding) == finding["text"].replace(
                    "the pictures bff", "the pictures bottom field first")
            else:
                assert engine_text.finding_text(finding) == finding["text"]


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_in_chinese_no_finding_keeps_an_english_word(language):
    with translation.override(language):
        for finding in every_finding():
            text = engine_text.finding_text(finding)
            assert text != finding["text"] and LATIN_WORD.findall(text) == [], text
        cast = next(f for f in every_finding() if f["kind"] == "cast")
        assert engine_text.finding_text(cast).startswith("偏色：棕褐")


def test_a_finding_without_figures_or_of_an_unknown_kind_keeps_the_engines_words():
    with translation.override("zh-hans"):
        assert engine_text.finding_text({"kind": "dust", "text": "Dust (old report)."}) == "Dust (old report)."
        assert engine_text.finding_text({"kind": "new_kind", "params": {}, "text": "New."}) == "New."
        assert engine_text.finding_text({"kind": "dust", "params": {"level": "mild"}, "text": "T."}) == "T."
        report = {"findings": [{"kind": "noise", "severity": 0.3, "text": "Grain.",
                                "params": {"levels": 6.0, "level": "moderate"}}]}
        assert engine_text.findings(report) == [{"kind": "noise", "severity": 0.3, "english": "Grain.",
                                                 "text": "颗粒/噪点：标准差约为 8 位色阶的 6.0 级（中等）。"}]
        assert engine_text.summary_levels({"noise": {"level": "mild"}, "frames": 3}) == {"noise": "轻微"}


def test_every_operator_parameter_and_choice_of_the_engine_has_a_name():
    # A new operator, parameter or choice in gpu_worker/engine/schema.py needs its words here.
    # (The built-in declarations: operators registered at run time, like the test suite's
    # own, are shown by their code names.)
    for schema in BUILTIN_SCHEMAS:
        name = schema.name
        assert name in engine_text.OPERATORS, name
        for param in schema.params:
            assert param.name in engine_text.PARAMS, f"{name}.{param.name}"
            assert set(param.choices) <= set(engine_text.CHOICES), f"{name}.{param.name}"
            # px, x, fps and % are written the same in Chinese.
            assert param.unit in {"", "px", "x", "fps", "%"} or param.unit in engine_text.UNITS, param.unit


def test_keys_values_and_ranges_in_chinese():
    spec = {"ops": [{"op": "denoise", "params": {}}, {"op": "grain", "params": {}}, {"op": "grain", "params": {}}]}
    with translation.override("zh-hans"):
        assert engine_text.key_label("denoise.strength", spec) == "降噪 · 力度"
        assert engine_text.key_label("#3.strength", spec) == "胶片颗粒（第 3 步） · 力度"
        assert engine_text.key_label("seed") == "随机种子"
        assert engine_text.key_label("not a key") == "not a key"
        assert engine_text.overrides_text({"colour_scheme.look": "warm_period", "denoise.align": False}) == \
            "色彩风格 · 风格 = 暖调老拷贝, 降噪 · 跟随运动 = 否"
        strength = next(p for p in get_operator_schema("grain").params if p.name == "strength")
        assert engine_text.range_text(strength) == "[0.0, 40.0] 8 位色阶"
        assert engine_text.device_name("cuda:1") == "GPU 1" and engine_text.device_name("cpu") == "CPU"
    with translation.override("zh-hant"):
        assert engine_text.key_label("denoise.strength", spec) == "降噪 · 力度"
        assert engine_text.value_text("warm_period") == "暖調舊拷貝"


@pytest.mark.django_db
def test_a_variants_label_in_the_readers_language():
    variant = VariantFactory(overrides={"colour_scheme.amount": 0.6}, preset_version__recipe={"ops": ["colour_scheme"]},
                             preset_version__preset__name="auto",
                             preset_version__preset__builtin=True, label="auto v1 · colour_scheme.amount=0.6")
    with translation.override("zh-hans"):
        number = variant.preset_version.number
        assert engine_text.variant_label(variant) == f"自动 第 {number} 版 · 色彩风格 · 强度 = 0.6"
    own = VariantFactory(overrides={}, label="")
    with translation.override("zh-hans"):
        assert engine_text.variant_label(own).startswith(own.preset_version.preset.name)


@pytest.mark.django_db
def test_failure_reasons_the_site_writes_are_worded_and_others_quoted():
    lease = WorkLeaseFactory(kind="variant", attempt=3, started_at=timezone.now())
    reason = give_up_reason(lease)
    with translation.override("en"):
        assert engine_text.failure_reason(reason) == {"text": reason, "original": reason}
        never = give_up_reason(WorkLeaseFactory(kind="analysis", attempt=1))
        assert engine_text.failure_reason(never)["text"] == never
    with translation.override("zh-hant"):
        worded = engine_text.failure_reason(reason)
        assert worded["text"].startswith("嘗試 3 次後放棄：變體渲染停止了回報") and worded["original"] == reason
        assert engine_text.failure_reason("probe: the render failed")["text"] == "讀取媒體資訊：渲染失敗"
        library = "RuntimeError: CUDA out of memory"
        assert engine_text.failure_reason(library) == {"text": "", "original": library}
        assert engine_text.failure_reason("the render has 40 frames; 48 were asked for")["text"] == \
            "渲染結果有 40 幀，但要求的是 48 幀"


def test_plot_words_cover_the_engines_and_keep_their_placeholders():
    with translation.override("zh-hant"):
        words = engine_text.plot_words()
    assert set(words) == set(analysis.PLOT_TEXT)
    for key, english in analysis.PLOT_TEXT.items():
        assert sorted(re.findall(r"\{[^}]*\}", words[key])) == sorted(re.findall(r"\{[^}]*\}", english)), key
    assert words["brightness_axis"] == "亮度"


def test_metadata_for_a_page_words_what_ffprobe_could_not_tell():
    with translation.override("zh-hans"):
        shown = engine_text.metadata_for_page({"color_range": "unknown", "color_space": "bt709",
                                               "color_primaries": None, "container": "mov"})
    assert shown == {"color_range": "未知", "color_space": "bt709", "color_primaries": "未知",
                     "color_trc": "未知", "container": "mov"}


# A figure in a help text (0.5, 12, 29.97), not a digit of a name (technicolor_2strip, 4K).
FIGURE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?(?![\w])")


def engine_help_texts() -> list[str]:
    """Every long help text the engine marks with N_: operator and parameter
    descriptions, the shipped presets' titles and descriptions."""
    from gpu_worker.engine.presets import PRESETS

    texts = []
    for schema in BUILTIN_SCHEMAS:
        texts.append(schema.description)
        texts.extend(param.description for param in schema.params)
    for preset in PRESETS.values():
        texts.extend((preset.title, preset.description))
    return texts


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_every_help_text_of_the_engine_is_translated(language):
    # A new or reworded description in gpu_worker/engine/schema.py or presets.py needs
    # makemessages (it collects N_(...)) and its translation in both catalogues.
    texts = engine_help_texts()
    assert len(texts) > 100 and all(texts)
    with translation.override(language):
        missing = [text for text in texts if engine_text.help_text(text) == text]
        assert missing == []
        for text in texts:
            shown = engine_text.help_text(text)
            assert re.search(r"[\u4e00-\u9fff]", shown), shown
            # Figures keep their values: every number of the English is in the Chinese.
            assert set(FIGURE.findall(text)) <= set(FIGURE.findall(shown)), text
    with translation.override("en"):
        assert all(engine_text.help_text(text) == text for text in texts)


def test_the_marker_is_plain_and_makemessages_collects_it():
    from gpu_worker.engine.i18n import N_
    from restoration.management.commands.makemessages import Command

    assert N_("any text") == "any text"
    assert "--keyword=N_" in Command.xgettext_options
    assert engine_text.help_text("") == ""
    with translation.override("zh-hans"):
        assert engine_text.help_text("Not one of the engine's texts.") == "Not one of the engine's texts."


def test_an_operator_for_a_page_keeps_its_codes_beside_its_words():
    schema = get_operator_schema("colour_correct").schema()
    with translation.override("zh-hant"):
        shown = engine_text.operator_for_page(schema)
    assert shown["name"] == "colour_correct" and shown["label"] == "色彩校正"
    assert shown["category"] == "colour" and shown["category_label"] == "色彩"
    assert shown["description"] == schema["description"] and shown["help"].startswith("自動校正褪色和偏色")
    method = shown["params"][0]
    assert method["name"] == "method" and method["label"] == "方法" and method["help"].startswith("偏色的量度方式")
    assert method["choice_labels"] == [("percentile", "百分位"), ("grey_world", "灰色世界")]
    radius = next(p for p in shown["params"] if p["name"] == "temporal_radius")
    assert radius["unit"] == "frames" and radius["unit_label"] == "幀"


def test_every_category_and_region_has_a_name():
    from gpu_worker.engine.spec import REGIONS

    for schema in BUILTIN_SCHEMAS:
        assert schema.category in engine_text.CATEGORIES, schema.category
    assert set(REGIONS) == set(engine_text.REGIONS)
    with translation.override("zh-hans"):
        assert engine_text.region_name("all") == "整个画面" and engine_text.category_name("tone") == "影调"
        assert engine_text.region_name("elsewhere") == "elsewhere"


@pytest.mark.skipif(shutil.which("xgettext") is None, reason="needs GNU gettext's xgettext")
def test_xgettext_takes_exactly_the_marked_help_texts_from_the_engine(tmp_path):
    # What the README's makemessages does to gpu_worker: xgettext with the override's
    # options over every Python file. It finds the N_ texts and nothing else.
    from restoration.management.commands.makemessages import Command

    files = sorted(str(p) for p in (REPO / "gpu_worker").rglob("*.py"))
    pot = tmp_path / "engine.pot"
    subprocess.run(["xgettext", "-L", "Python", *Command.xgettext_options, "--no-wrap",
                    "-o", str(pot), *files], check=True, cwd=REPO)
    extracted = {entry.msgid for entry in polib.pofile(str(pot)) if entry.msgid}
    assert extracted == set(engine_help_texts())
