"""In chromium with a Chinese browser: the fan's voting page comes up in Simplified
Chinese (from Accept-Language), the player's own words (from the JavaScript catalogue)
too, with no English left; the switcher turns it into Hong Kong Traditional Chinese.
Screenshots go to docs/images/ (vote-zh-hans.png, vote-zh-hant.png)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from tests.browser.conftest import REPO

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMAGES = REPO / "docs" / "images"
# Names and units that stay as they are in every language.
ALLOWED = {"Reel", "Arena", "English", "fps", "A", "B", "s", "f"}


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


def english_left(page) -> set[str]:
    text = page.evaluate("""() => {
        const shown = [...document.querySelectorAll('[aria-label],[title],[placeholder],[alt]')]
          .map(el => ['aria-label', 'title', 'placeholder', 'alt'].map(a => el.getAttribute(a) || '').join(' '));
        return document.body.innerText + ' ' + shown.join(' ');
    }""")
    return set(re.findall(r"[A-Za-z]{2,}", text)) - ALLOWED


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

    DOCS_IMAGES.mkdir(parents=True, exist_ok=True)
    for name in ("vote-zh-hans.png", "vote-zh-hant.png"):
        shutil.copy(artifacts / name, DOCS_IMAGES / name)
    assert Path(DOCS_IMAGES / "vote-zh-hans.png").stat().st_size > 10_000
