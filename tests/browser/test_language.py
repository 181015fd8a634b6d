"""In chromium with a Chinese browser: the fan's voting page comes up in Simplified
Chinese (from Accept-Language), the player's own words (from the JavaScript catalogue)
too, with no English left; the switcher turns it into Hong Kong Traditional Chinese.
The technician's pages (film, upload, the clip page of an analysed clip with its
findings, variants, comparisons and failures, and its sweep form) and the preset editor
the same, their analysis plot drawn in the page's language with glyphs for it.
Screenshots go to test-artifacts/; with REEL_ARENA_DOC_IMAGES=1 they also replace the
ones in docs/images/ (vote-, clip-, sweep-, film-, upload- and preset-zh-hans.png and
-zh-hant.png), so a plain test run leaves the checkout as it was."""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from gpu_worker.engine.encoding import CODECS
from tests.browser.conftest import REPO, log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMAGES = REPO / "docs" / "images"
# Names and units that stay as they are in every language.
ALLOWED = {"Reel", "Arena", "English", "fps", "A", "B", "s", "f"}
# A word: Latin letters, with the digits and underscores of an identifier (yuv420p,
# standard_fhd), not inside a number or size (640x480).
WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z][A-Za-z0-9_]+")


def doc_images_dir(artifacts: Path) -> Path:
    """Where the documentation's screenshots are written: docs/images/ when
    REEL_ARENA_DOC_IMAGES=1 asks for them to be refreshed, else beside the artifacts."""
    target = DOCS_IMAGES if os.environ.get("REEL_ARENA_DOC_IMAGES") == "1" else artifacts / "docs"
    target.mkdir(parents=True, exist_ok=True)
    return target


def seed_chinese_contest() -> None:
    """Run inside the embedded site's environment (manage.py shell): the voting test's
    contest, under a Chinese film and clip title; prints its slug as JSON."""
    from restoration.models import Clip, Film, Preset
    from tests.browser.test_voting import seed_contest

    def free_preset_names() -> None:
        # seed_contest names its presets after their specs; the voting test seeds the same
        # ones in this session's site, so both keep theirs apart by a suffix.
        for preset in Preset.objects.filter(name__startswith="voting-browser-").exclude(name__endswith="-seeded"):
            preset.name = f"{preset.name}-{preset.pk}-seeded"
            preset.save(update_fields=["name"])

    free_preset_names()
    seed_contest()
    free_preset_names()
    clip = Clip.objects.order_by("-pk").first()
    Film.objects.filter(pk=clip.film_id).update(title="武状元苏乞儿", year=1992)
    Clip.objects.filter(pk=clip.pk).update(title="第一卷")
    print(json.dumps({"slug": clip.contests.order_by("-pk").first().slug}))


def english_left(page, allowed: set[str] = frozenset()) -> set[str]:
    """Latin words in the page's visible text, its menus' options and its labelling attributes, less
    ALLOWED and `allowed`. Text the page marks translate="no" (a checksum, a reason
    quoted as a library wrote it) is left out; the caller says how much of it to expect."""
    text = page.evaluate("""() => {
        const shown = [...document.querySelectorAll('[aria-label],[title],[placeholder],[alt]')]
          .map(el => ['aria-label', 'title', 'placeholder', 'alt'].map(a => el.getAttribute(a) || '').join(' '));
        const options = [...document.querySelectorAll('option, optgroup')].map(el => el.label || el.textContent);
        let text = document.body.innerText;
        for (const el of document.querySelectorAll('[translate=no]')) text = text.replace(el.innerText, ' ');
        return text + ' ' + shown.join(' ') + ' ' + options.join(' ');
    }""")
    return set(WORD.findall(text)) - ALLOWED - set(allowed)


def test_a_chinese_browser_gets_the_voting_page_in_chinese(embedded_site, browser, artifacts):
    out = embedded_site.manage("shell", "-c",
                               "from tests.browser.test_language import seed_chinese_contest; seed_chinese_contest()")
    slug = json.loads(out.strip().splitlines()[-1])["slug"]
    vote_url = f"{embedded_site.url}/vote/c/{slug}/"

    phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                device_scale_factor=2, locale="zh-CN")
    page = phone.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    page.goto(vote_url)
    assert page.locator("html").get_attribute("lang") == "zh-Hans"
    page.wait_for_selector("#vote-app[data-state=watching]", timeout=30_000)
    # The watch label is rewritten by vote.js on every heartbeat: its words come from the
    # JavaScript catalogue.
    page.wait_for_function("() => /请观看两边|可以投票了/.test(document.getElementById('watch-label').textContent)",
                           timeout=20_000)
    assert page.locator("#vote-left").inner_text() == "◀ 左边更好"
    assert "武状元苏乞儿" in page.locator("h1").inner_text()
    page.click("button[data-mode=toggle]")
    assert "正在显示" in page.locator("#toggle-side").inner_text()
    page.click("button[data-mode=side]")
    page.wait_for_selector("#vote-left:not([disabled])", timeout=30_000)
    assert english_left(page) == set()
    shot = artifacts / "vote-zh-hans.png"
    page.screenshot(path=str(shot), full_page=True)

    # The switcher: the same page in Hong Kong Traditional Chinese.
    page.click("#language-switcher button[value=zh-hant]")
    page.wait_for_url(vote_url)
    page.wait_for_selector("#vote-app[data-state=watching]", timeout=30_000)
    assert page.locator("html").get_attribute("lang") == "zh-Hant-HK"
    assert page.locator("#vote-left").inner_text() == "◀ 左邊較好"
    page.wait_for_function("() => /請觀看兩邊|可以投票了/.test(document.getElementById('watch-label').textContent)",
                           timeout=20_000)
    page.wait_for_selector("#vote-left:not([disabled])", timeout=30_000)
    assert english_left(page) == set()
    page.screenshot(path=str(artifacts / "vote-zh-hant.png"), full_page=True)
    assert errors == [], errors
    phone.close()

    docs = doc_images_dir(artifacts)
    for name in ("vote-zh-hans.png", "vote-zh-hant.png"):
        shutil.copy(artifacts / name, docs / name)
    assert Path(docs / "vote-zh-hans.png").stat().st_size > 10_000


# --------------------------------------------------------------------------- technician's pages

# On the clip page, besides ALLOWED: the comparisons' metric, ColorVideoVDP, its display
# model (standard_fhd) and unit (JOD), and the names of the devices and of the report's
# format that a technician reads as such.
# Units of file sizes (Django's filesizeformat writes them in Latin letters in every language).
SIZE_UNITS = {"KB", "MB", "GB"}
CLIP_ALLOWED = {"ColorVideoVDP", "standard_fhd", "JOD", "CPU", "GPU", "JSON", "SHA"} | SIZE_UNITS
# On the upload page: the file formats it takes, the codec it stores frame sequences in
# and the units of their sizes.
UPLOAD_ALLOWED = {"zip", "DPX", "TIFF", "EXR", "PNG", "FFV1"} | SIZE_UNITS
# On the sweep form: the units of the parameters' ranges (pixels, a factor, a rate).
SWEEP_ALLOWED = {"px", "x", "fps"}
# In the preset editor: the codecs it encodes with (their own names), and the programs,
# models and methods its help texts name (Real-ESRGAN, GFPGAN, FFmpeg's yadif/bwdif …).
PRESET_ALLOWED = ({"px", "fps", "cube", "USM", "SPAN", "Real", "ESRGAN", "GFPGAN", "RestoreFormer",
                   "Lanczos", "FFmpeg", "yadif", "bwdif"} | set(WORD.findall(" ".join(CODECS))))
# The quote of a library's own error, kept as written (translate="no").
LIBRARY_ERROR = "RuntimeError: CUDA out of memory. Tried to allocate 2.00 GiB"
GAVE_UP = ("gave up after 3 attempts: the variant render stopped reporting (no sign of life "
           "for 120s; its worker was probably killed or lost its message)")


def seed_chinese_clip() -> None:
    """Run inside the embedded site's environment (manage.py shell): a film with a clip
    of the demo film's damaged pictures, probed and analysed by the real services, a
    sweep of three variants from its "auto" spec (two rendered, one whose render the
    sweeper gave up on), a comparison of the two that fans could not tell apart and one
    that failed; prints the ids and the clip's ffprobe names as JSON."""
    import hashlib
    import tempfile

    from django.core.files import File

    from gpu_worker.engine.demo import make_demo_film
    from restoration.models import RenderJob, Variant, VariantComparison
    from restoration.rendering import sweeps
    from restoration.selectors import clip_metadata
    from restoration.services import presets
    from restoration.services.clip_analysis import analyze_clip
    from tests.browser.test_voting import make_excerpt
    from tests.factories import FilmFactory, RenderJobFactory, VariantComparisonFactory
    from tests.restoration.clip_helpers import ready_clip

    film = FilmFactory(title="醉拳", year=1978, description="修复前的第一卷，有灰尘、划痕和闪烁。")
    with tempfile.TemporaryDirectory() as tmp:
        clip = ready_clip(make_demo_film(Path(tmp) / "醉拳第一卷.mp4", seconds=2.0), film=film,
                          title="第一卷")
        clip = analyze_clip(clip)
        assert clip.analysis_status == "done", clip.analysis
        version = presets.auto_version(clip)
        made = sweeps.create_sweep(clip, version, {"colour_scheme.look": ["warm_period", "sepia", "cool"]},
                                   dispatch=False)
        for n, variant in enumerate(made[:2]):
            with open(make_excerpt(Path(tmp) / f"v{n}.mp4", (150, 120, 80)), "rb") as handle:
                variant.output.save(f"variant-{n}.mp4", File(handle), save=False)
            variant.status, variant.metrics = Variant.Status.DONE, {"render_fps": 6.5, "device": "cpu"}
            variant.save()
    clip.size_bytes, clip.sha256 = clip.source.size, hashlib.sha256(clip.source.read()).hexdigest()
    clip.save(update_fields=["size_bytes", "sha256"])
    Variant.objects.filter(pk=made[2].pk).update(status=Variant.Status.FAILED, error=GAVE_UP)
    RenderJobFactory(variant=made[2], status=RenderJob.Status.FAILED, error=GAVE_UP,
                     frames_total=made[2].end_frame - made[2].start_frame)
    close = VariantComparisonFactory(variant_a=made[0], variant_b=made[1], jod=9.85)
    VariantComparisonFactory(variant_a=made[0], variant_b=made[2], jod=None,
                             status=VariantComparison.Status.FAILED, error=LIBRARY_ERROR)
    meta = clip_metadata(clip)
    names = " ".join(str(meta.get(k) or "") for k in ("container", "video_codec", "pix_fmt", "color_range",
                                                      "color_space", "color_primaries", "color_trc",
                                                      "audio_codec"))
    print(json.dumps({"film": film.pk, "clip": clip.pk, "close": close.pk, "ffprobe": names}))


def test_the_technicians_pages_in_chinese_with_their_plot(embedded_site, browser, artifacts):
    out = embedded_site.manage("shell", "-c",
                               "from tests.browser.test_language import seed_chinese_clip; seed_chinese_clip()")
    seeded = json.loads(out.strip().splitlines()[-1])
    # ffprobe's names of the clip's formats (mov, yuv420p, bt709 …): identifiers, as a
    # technician searches for them.
    ffprobe = set(WORD.findall(seeded["ffprobe"])) - {"unknown"}  # that one is worded
    username, password = embedded_site.add_user("技术员甲", "technician")
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page = desk.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda err: errors.append(str(err)))
    log_in(page, embedded_site, username, password)
    clip_url = f"{embedded_site.url}/clips/{seeded['clip']}/"
    film_url = f"{embedded_site.url}/films/{seeded['film']}/"
    upload_url = f"{embedded_site.url}/films/{seeded['film']}/upload/"
    # The sweep form lists every preset version: technicians' own presets by their own
    # names (other tests of this site make some), the engine's by their worded names.
    own = embedded_site.manage("shell", "-c", "import json; from restoration.models import Preset; "
                               "print(json.dumps(list(Preset.objects.filter(builtin=False).values_list('name', flat=True))))")
    own_names = set(WORD.findall(" ".join(json.loads(own.strip().splitlines()[-1]))))
    plots = {}
    for language, lang_attr, words in (
            ("zh-hans", "zh-Hans", {"finding": "闪烁", "failed": "尝试 3 次后放弃", "look": "暖调老拷贝",
                                    "deflicker": "去除亮度闪烁"}),
            ("zh-hant", "zh-Hant-HK", {"finding": "閃爍", "failed": "嘗試 3 次後放棄", "look": "暖調舊拷貝",
                                       "deflicker": "去除亮度閃爍"})):
        if language == "zh-hant":  # the switcher, as a visitor would
            page.goto(clip_url)
            page.click("#language-switcher button[value=zh-hant]")
            page.wait_for_url(clip_url)
        page.goto(clip_url)
        assert page.locator("html").get_attribute("lang") == lang_attr
        plot = page.locator("#analysis-plot")
        plot.scroll_into_view_if_needed()
        page.wait_for_function("() => { const img = document.getElementById('analysis-plot');"
                               " return img.complete && img.naturalWidth > 0; }", timeout=60_000)
        findings = page.locator("#clip-analysis .findings li")
        assert findings.count() >= 2 and words["finding"] in page.locator("#clip-analysis").inner_text()
        assert words["failed"] in page.locator("#variant-table").inner_text()
        assert words["look"] in page.locator("#variant-table").inner_text()
        assert page.locator(f"#indistinct-{seeded['close']}").count() == 1
        # Exactly one quote left as written: the library's error, marked translate="no"
        # (the checksum is the other element so marked).
        quoted = page.locator("#clip-variants [translate=no]")
        assert quoted.count() == 1 and quoted.inner_text() == LIBRARY_ERROR
        assert english_left(page, CLIP_ALLOWED | ffprobe) == set()
        page.screenshot(path=str(artifacts / f"clip-{language}.png"), full_page=True)
        response = page.request.get(embedded_site.url + plot.get_attribute("src"))
        assert response.status == 200 and response.headers["content-type"] == "image/png"
        plots[language] = response.body()

        page.goto(clip_url + "sweep/?version=auto")
        page.wait_for_selector("#sweep-form")
        options = page.locator("#sweep-form select[name=axis-0-key] option")
        assert options.count() > 20 and words["look"] in page.locator("#sweep-form").inner_html()
        assert english_left(page, SWEEP_ALLOWED | own_names) == set()
        page.screenshot(path=str(artifacts / f"sweep-{language}.png"), full_page=True)

        page.goto(film_url)
        assert "醉拳" in page.locator("h1").inner_text()
        assert english_left(page, CLIP_ALLOWED) == set()
        page.screenshot(path=str(artifacts / f"film-{language}.png"), full_page=True)
        page.goto(upload_url)
        page.wait_for_load_state("networkidle")
        assert english_left(page, UPLOAD_ALLOWED) == set()
        page.screenshot(path=str(artifacts / f"upload-{language}.png"), full_page=True)

        # The preset editor, from "faithful": its operators, parameters, choices, regions
        # and the engine's help texts (also each operator's in the "add operator" menu's
        # tooltips) in the page's language, the codes shown beside them marked translate="no".
        page.goto(f"{embedded_site.url}/presets/new/?start=faithful")
        editor = page.locator("#preset-editor")
        assert editor.locator("fieldset.op").count() == 5
        assert words["deflicker"] in editor.locator("fieldset.op").first.inner_text()
        assert page.locator("#preset-editor code[translate=no]").count() > 20
        assert english_left(page, PRESET_ALLOWED) == set()
        page.screenshot(path=str(artifacts / f"preset-{language}.png"), full_page=True)

    # Each language has its own plot, and every glyph drawn in it was in a font: matplotlib
    # warns "Glyph … missing from font(s)" for each one it had to draw as an empty box.
    assert plots["zh-hans"] != plots["zh-hant"]
    assert "missing from font" not in embedded_site.log()
    assert errors == [], errors
    desk.close()

    docs = doc_images_dir(artifacts)
    for page_name in ("clip", "sweep", "film", "upload", "preset"):
        for language in ("zh-hans", "zh-hant"):
            name = f"{page_name}-{language}.png"
            small_png(artifacts / name, docs / name)
            assert 10_000 < (docs / name).stat().st_size < 600_000, name


def small_png(source: Path, target: Path) -> None:
    """A screenshot as a 256-colour PNG: a page's flat colours and text survive, and a
    long page with a video poster and a plot stays a few hundred kilobytes."""
    from PIL import Image

    with Image.open(source) as image:
        image.convert("RGB").quantize(256).save(target, optimize=True)
