"""Languages (config.settings, config.urls, config/locale): English, Simplified Chinese
and Hong Kong Traditional Chinese; the catalogues are complete and compiled; the browser's
Accept-Language and the switcher choose the language; the JavaScript catalogue and the
user-facing API errors are translated; TIME_ZONE comes from the environment."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import polib
import pytest
from django.conf import settings
from django.test import Client

from tests.factories import ClipFactory
from tests.voting.voting_factories import make_variant
from voting.models import Contest
from voting.services import open_contest

REPO = Path(__file__).resolve().parents[2]
LOCALE = REPO / "config" / "locale"
CATALOGUES = sorted(LOCALE.glob("*/LC_MESSAGES/*.po"))

# What must survive translation unchanged: printf placeholders (%(name)s, %(n)d, %%),
# format-style fields ({name}) and HTML tags with their attributes.
PLACEHOLDER = re.compile(r"%\(\w+\)[sdrfi]|%%|\{\w*\}|<[^>]+>")


def placeholders(text: str) -> list[str]:
    return sorted(PLACEHOLDER.findall(text))


def translations(entry: polib.POEntry) -> list[str]:
    return list(entry.msgstr_plural.values()) if entry.msgid_plural else [entry.msgstr]


# --------------------------------------------------------------------------- catalogues


def test_both_chinese_catalogues_exist_for_templates_and_scripts():
    found = {(p.parts[-3], p.stem) for p in CATALOGUES}
    assert found == {("zh_Hans", "django"), ("zh_Hans", "djangojs"),
                     ("zh_Hant", "django"), ("zh_Hant", "djangojs")}
    assert len(polib.pofile(str(LOCALE / "zh_Hans/LC_MESSAGES/django.po"))) > 300


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_every_message_has_a_translation_keeping_its_placeholders(path):
    catalogue = polib.pofile(str(path))
    assert not catalogue.metadata_is_fuzzy
    assert catalogue.metadata["Plural-Forms"].startswith("nplurals=1;")
    problems = []
    for entry in catalogue:
        if entry.obsolete:
            continue
        if entry.fuzzy:
            problems.append(f"fuzzy: {entry.msgid!r}")
        for text in translations(entry):
            if not text.strip():
                problems.append(f"untranslated: {entry.msgid!r}")
            elif placeholders(text) != placeholders(entry.msgid):
                problems.append(f"placeholders differ: {entry.msgid!r} -> {text!r}")
            elif entry.msgid_plural and placeholders(text) != placeholders(entry.msgid_plural):
                problems.append(f"plural placeholders differ: {entry.msgid_plural!r} -> {text!r}")
    assert not problems, "\n".join(problems)


def test_the_placeholder_check_can_fail():
    assert placeholders("%(n)s votes from <strong>%(who)s</strong>") != placeholders("%(n)s 票")
    assert placeholders("{name} and %(x)d") == placeholders("%(x)d 与 {name}")


@pytest.mark.parametrize("path", CATALOGUES, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_the_committed_mo_files_are_compiled_from_the_po_files(path):
    # CI may have no gettext tools, so the compiled catalogues are committed; they must
    # say exactly what the .po files say (run compilemessages after editing a .po).
    source = polib.pofile(str(path))
    compiled = polib.mofile(str(path.with_suffix(".mo")))
    expected = {(e.msgctxt, e.msgid): translations(e) for e in source.translated_entries()}
    actual = {(e.msgctxt, e.msgid): translations(e) for e in compiled if e.msgid}
    assert actual == expected


# --------------------------------------------------------------------------- settings


def test_languages_and_the_middleware_order():
    assert settings.USE_I18N
    assert [code for code, _name in settings.LANGUAGES] == ["en", "zh-hans", "zh-hant"]
    assert dict(settings.LANGUAGES)["zh-hant"] == "繁體中文（香港）"
    middleware = settings.MIDDLEWARE
    locale = middleware.index("django.middleware.locale.LocaleMiddleware")
    # It reads the session's language and must run before CommonMiddleware.
    assert middleware.index("django.contrib.sessions.middleware.SessionMiddleware") < locale
    assert locale < middleware.index("django.middleware.common.CommonMiddleware")
    assert Path(settings.LOCALE_PATHS[0]) == LOCALE


def _start(tmp_path: Path, **overrides: str) -> subprocess.CompletedProcess:
    environ = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TIME_ZONE"}}
    environ.update({"DJANGO_SETTINGS_MODULE": "config.settings", "REEL_ARENA_VAR_DIR": str(tmp_path),
                    **overrides})
    show = "import django; django.setup(); from django.conf import settings as s; print(s.TIME_ZONE)"
    return subprocess.run([sys.executable, "-c", show], cwd=REPO, env=environ, capture_output=True,
                          text=True, timeout=60)


def test_time_zone_comes_from_the_environment(tmp_path):
    assert _start(tmp_path).stdout.strip() == "UTC"
    assert _start(tmp_path, TIME_ZONE="Asia/Hong_Kong").stdout.strip() == "Asia/Hong_Kong"
    wrong = _start(tmp_path, TIME_ZONE="Asia/Kowloon")
    assert wrong.returncode != 0
    assert "ImproperlyConfigured" in wrong.stderr and "TIME_ZONE='Asia/Kowloon'" in wrong.stderr


# --------------------------------------------------------------------------- choosing a language

@pytest.mark.django_db
@pytest.mark.parametrize(("accept", "language"), [
    ("zh-CN,zh;q=0.9,en;q=0.5", "zh-hans"),
    ("zh-SG", "zh-hans"),
    ("zh-Hans", "zh-hans"),
    ("zh-HK,zh;q=0.8", "zh-hant"),
    ("zh-TW", "zh-hant"),
    ("zh-MO", "zh-hant"),
    ("zh-Hant-HK", "zh-hant"),
    ("en-GB,en;q=0.9", "en"),
    ("fr-FR,de;q=0.5", "en"),
])
def test_the_browser_language_chooses_the_site_language(accept, language):
    response = Client(HTTP_ACCEPT_LANGUAGE=accept).get("/gallery/")
    assert response.status_code == 200
    assert response["Content-Language"] == language
    heading = {"en": "Restored films", "zh-hans": "修复的影片", "zh-hant": "修復的影片"}[language]
    assert heading in response.content.decode()


@pytest.mark.django_db
def test_the_switcher_sets_the_language_over_the_browsers():
    client = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert "修复的影片" in client.get("/gallery/").content.decode()
    response = client.post("/i18n/setlang/", {"language": "zh-hant", "next": "/gallery/"})
    assert response.status_code == 302 and response["Location"] == "/gallery/"
    assert client.cookies[settings.LANGUAGE_COOKIE_NAME].value == "zh-hant"
    page = client.get("/gallery/").content.decode()
    assert "修復的影片" in page and '<html lang="zh-Hant-HK">' in page
    client.post("/i18n/setlang/", {"language": "en", "next": "/gallery/"})
    assert "Restored films" in client.get("/gallery/").content.decode()


@pytest.mark.django_db
def test_the_switcher_refuses_a_foreign_next_address():
    response = Client().post("/i18n/setlang/", {"language": "zh-hans", "next": "https://evil.example/"})
    assert response.status_code == 302 and not response["Location"].startswith("https://evil")


@pytest.mark.django_db
@pytest.mark.parametrize(("language", "words"), [
    ("zh-hans", ["正在发送……", "可以投票了", "还需要 %(n)s 票"]),
    ("zh-hant", ["正在傳送……", "可以投票了", "還需要 %(n)s 票"]),
])
def test_the_javascript_catalogue_serves_the_translations(language, words):
    client = Client()
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = language
    response = client.get("/jsi18n/")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/javascript")
    text = response.content.decode()
    for word in words:
        assert json.dumps(word)[1:-1] in text  # the catalogue is JSON with \u escapes
    assert "django.gettext" in text


@pytest.mark.django_db
def test_the_javascript_catalogue_revalidates_instead_of_downloading_again():
    client = Client()
    first = client.get("/jsi18n/?lang=en")
    assert first.status_code == 200 and first["Last-Modified"]
    again = client.get("/jsi18n/?lang=en", HTTP_IF_MODIFIED_SINCE=first["Last-Modified"])
    assert again.status_code == 304 and again.content == b""


@pytest.mark.django_db
def test_the_javascript_catalogue_is_empty_in_english():
    text = Client().get("/jsi18n/").content.decode()
    assert json.dumps("正在")[1:-1] not in text and "django.gettext" in text


# --------------------------------------------------------------------------- API errors


@pytest.mark.django_db
def test_api_errors_for_people_are_translated():
    hant = Client(HTTP_ACCEPT_LANGUAGE="zh-HK")
    assert hant.get("/api/films/").json() == {"error": "需要登入"}
    assert Client().get("/api/films/").json() == {"error": "authentication required"}
    hans = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    assert hans.get("/api/publications/no-such-work/").json()["error"] == "这个地址没有已发布的作品"
    assert hans.get("/vote/c/no-such-contest/api/next/").json()["error"] == "没有这个评比。"


@pytest.mark.django_db
def test_a_fans_refused_ballot_is_explained_in_their_language():
    clip = ClipFactory()
    contest = open_contest(clip=clip, variants=[make_variant(clip, 0), make_variant(clip, 1)])
    Contest.objects.filter(pk=contest.pk).update(status=Contest.Status.CLOSED)
    fan = Client(HTTP_ACCEPT_LANGUAGE="zh-HK,zh;q=0.9")
    fan.get(f"/vote/c/{contest.slug}/")
    response = fan.post(f"/vote/c/{contest.slug}/api/ballot/", {"pairing": 1, "choice": "left"},
                        content_type="application/json")
    assert response.status_code == 410
    assert response.json() == {"error": "此評比已結束。多謝你的投票！", "code": "contest_closed"}


# --------------------------------------------------------------------------- screenings and audit


@pytest.mark.django_db
def test_screening_codes_the_audit_and_the_tiers_come_up_in_chinese():
    from django.utils import translation

    from tests.factories import technician
    from tests.voting.factories import RaterFactory
    from tests.voting.voting_factories import make_contest
    from voting.services import NotFound, redeem_screening_code

    owner = technician()
    contest = make_contest(2)
    Contest.objects.filter(pk=contest.pk).update(created_by=owner)
    tech = Client(HTTP_ACCEPT_LANGUAGE="zh-HK")
    tech.force_login(owner)
    made = tech.post(f"/vote/manage/{contest.pk}/codes/", {"count": "2", "seat_prefix": "R"}, follow=True)
    html = made.content.decode()
    assert "已產生 2 個新驗證碼。" in html and "座位 <strong>R1</strong>" in html
    assert "共 2 個驗證碼，已使用 0 個。" in html and "Screening codes" not in html
    audit = Client(HTTP_ACCEPT_LANGUAGE="zh-CN")
    audit.force_login(owner)
    html = audit.get(f"/vote/manage/{contest.pk}/audit/").content.decode()
    assert "没有发现异常。" in html and "异常检查共排除了 0 位评分者。" in html
    assert "投票权重：匿名 " in audit.get(f"/vote/manage/{contest.pk}/").content.decode()
    fan = Client(HTTP_ACCEPT_LANGUAGE="zh-HK")
    assert "你座位的驗證碼" in fan.get(f"/vote/c/{contest.slug}/code/").content.decode()
    assert "匿名網上觀眾" in fan.get(f"/vote/c/{contest.slug}/results/").content.decode()
    with translation.override("zh-hans"), pytest.raises(NotFound, match="这个验证码不属于本场放映。"):
        redeem_screening_code(contest, RaterFactory(), "NOPE")
