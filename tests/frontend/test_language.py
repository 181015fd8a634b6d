"""The site shell in three languages (frontend/templates/frontend/base.html): the switcher
on every page, the pages themselves in Simplified and Hong Kong Traditional Chinese,
the fan's voting page first."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from django.conf import settings
from django.test import Client

from tests.factories import ClipFactory, FilmFactory, technician
from tests.restoration.curation.factories import PublicationFactory
from tests.voting.voting_factories import make_variant
from voting.services import open_contest

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def in_language(language: str, client: Client | None = None) -> Client:
    client = client or Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    return client


@pytest.fixture
def contest():
    clip = ClipFactory(title="第一卷", film=FilmFactory(title="武状元苏乞儿", year=1992))
    return open_contest(clip=clip, variants=[make_variant(clip, 0), make_variant(clip, 1)])


class VisibleText(HTMLParser):
    """The words a visitor reads: text outside <script>/<style>, plus the attributes a
    browser shows or speaks (alt, title, placeholder, aria-label)."""

    SHOWN_ATTRIBUTES = {"alt", "title", "placeholder", "aria-label"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._hidden += 1
        self.parts += [value for name, value in attrs if name in self.SHOWN_ATTRIBUTES and value]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden -= 1

    def handle_data(self, data):
        if not self._hidden:
            self.parts.append(data)


def english_words(html: str, allowed: set[str]) -> set[str]:
    parser = VisibleText()
    parser.feed(html)
    words = set(re.findall(r"[A-Za-z]{2,}", " ".join(parser.parts)))
    return words - allowed


# Names and units that stay as they are in every language: the site's name, the
# switcher's own "English", the A/B of the toggle, frames per second, seconds.
ALLOWED = {"Reel", "Arena", "English", "fps", "A", "B", "s", "f"}


@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ["两边都看", "左边更好", "右边更好", "差不多", "并排", "滑动对比", "下一组", "作品集"]),
    ("zh-hant", ["兩邊都看", "左邊較好", "右邊較好", "差不多", "並排", "滑動對比", "下一組", "作品集"]),
])
def test_the_voting_page_is_in_chinese_with_no_english_left(contest, language, words):
    response = in_language(language).get(f"/vote/c/{contest.slug}/")
    assert response.status_code == 200
    html = response.content.decode()
    for word in words:
        assert word in html
    assert "武状元苏乞儿" in html and "第一卷" in html
    assert english_words(html, ALLOWED) == set()
    # the player's own words come from there (one URL per language: browsers cache it)
    assert f'<script src="/jsi18n/?lang={language}"></script>' in html


def test_the_english_check_can_fail(contest):
    html = Client().get(f"/vote/c/{contest.slug}/").content.decode()
    assert {"Left", "better", "Watch"} <= english_words(html, ALLOWED)


@pytest.mark.parametrize("path", ["/gallery/", "/accounts/login/", "vote"])
def test_every_page_has_the_switcher_with_the_current_language_marked(contest, path):
    path = f"/vote/c/{contest.slug}/" if path == "vote" else path
    html = in_language("zh-hant").get(path).content.decode()
    switcher = re.search(r'<form[^>]*id="language-switcher".*?</form>', html, re.S).group(0)
    assert 'action="/i18n/setlang/"' in switcher
    assert f'name="next" value="{path}"' in switcher
    for code, name in settings.LANGUAGES:
        assert f'value="{code}"' in switcher and name in switcher
    assert re.search(r'class="link current" name="language" value="zh-hant"[^>]*aria-current="true"', switcher)


def test_switching_on_the_voting_page_comes_back_to_it_in_the_new_language(contest):
    fan = Client()
    page = f"/vote/c/{contest.slug}/"
    assert "Left is better" in fan.get(page).content.decode()
    response = fan.post("/i18n/setlang/", {"language": "zh-hans", "next": page})
    assert response["Location"] == page
    assert "左边更好" in fan.get(page).content.decode()


@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ["修复的影片", "节选自《武状元苏乞儿》"]),
    ("zh-hant", ["修復的影片", "節選自《武状元苏乞儿》"]),
])
def test_the_gallery_in_chinese(language, words):
    film = FilmFactory(title="武状元苏乞儿")
    PublicationFactory(title="武状元苏乞儿 · 第一卷", slug="武状元苏乞儿-第一卷", film=film,
                       clip=ClipFactory(film=film))
    html = in_language(language).get("/gallery/").content.decode()
    for word in words:
        assert word in html
    assert 'href="/gallery/%E6%AD%A6' in html  # the Unicode slug, percent-encoded in the link


@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ["仪表板", "审阅", "评比", "影片", "还没有审阅。", "退出登录"]),
    ("zh-hant", ["儀表板", "審閱", "評比", "影片", "還沒有審閱。", "登出"]),
])
def test_the_dashboard_in_chinese(contest, language, words):
    client = in_language(language)
    client.force_login(technician())
    response = client.get("/dashboard/")
    assert response.status_code == 200
    html = response.content.decode()
    for word in words:
        assert word in html
    assert {"zh-hans": "进行中", "zh-hant": "進行中"}[language] in html  # the contest's status


def test_form_labels_and_messages_are_translated(contest):
    client = in_language("zh-hant")
    client.force_login(technician())
    page = client.get(f"/vote/manage/clips/{contest.clip_id}/new/").content.decode()
    assert "最少觀看時間（秒）" in page and "判定規則" in page
    response = client.post(f"/vote/manage/{contest.pk}/close/", follow=True)
    assert "評比已結束。" in response.content.decode()


@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ["原始文件", "视频编码", "帧率", "损伤分析", "变体", "新的变体参数扫描", "还没有变体。"]),
    ("zh-hant", ["原始檔案", "影片編碼", "幀率", "損傷分析", "變體", "新的變體參數掃描", "還沒有變體。"]),
])
def test_the_technicians_clip_page_in_chinese(language, words):
    clip = ClipFactory(title="第一卷", film=FilmFactory(title="武状元苏乞儿"))
    client = in_language(language)
    client.force_login(technician())
    response = client.get(clip.get_absolute_url())
    assert response.status_code == 200
    html = response.content.decode()
    for word in words:
        assert word in html
    assert {"zh-hans": "就绪", "zh-hant": "就緒"}[language] in html  # the clip's status


@pytest.mark.parametrize("language", ["zh-hans", "zh-hant"])
def test_every_staff_page_renders_in_chinese(contest, language):
    from tests.factories import PresetVersionFactory, RenderJobFactory, UserFactory
    from tests.restoration.curation.factories import ReviewFactory

    clip = contest.clip
    film = clip.film
    version = PresetVersionFactory()
    job = RenderJobFactory(film=film, preset_version=version, status="done")
    review = ReviewFactory(variant=contest.entries.first().variant)
    client = in_language(language)
    client.force_login(UserFactory(roles=["technician", "curator"]))
    pages = ["/", "/films/new/", film.get_absolute_url(), f"/films/{film.pk}/upload/", clip.get_absolute_url(),
             f"/clips/{clip.pk}/sweep/", f"/films/{film.pk}/render/", "/presets/", "/presets/new/?start=faithful",
             f"/presets/{version.preset_id}/", f"/presets/versions/{version.pk}/edit/", "/review/",
             f"/review/{review.pk}/", f"/films/{film.pk}/look/", "/vote/manage/", f"/vote/manage/{contest.pk}/",
             f"/vote/manage/clips/{clip.pk}/new/", "/dashboard/", f"/vote/c/{contest.slug}/results/"]
    lang = {"zh-hans": "zh-Hans", "zh-hant": "zh-Hant-HK"}[language]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, page
        html = response.content.decode()
        assert f'<html lang="{lang}">' in html, page
        # The page's own words are Chinese (not only the film and clip titles it shows).
        main = html.split("<main>", 1)[1].split("</main>", 1)[0]
        main = main.replace(film.title, "").replace(clip.title, "")
        assert re.search(r"[\u4e00-\u9fff]", main), page
    assert job.film == film
