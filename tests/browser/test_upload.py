"""In chromium: the embedded site starts with its demo film, and a technician uploads a
real old film through the page and sees its probed metadata."""

from __future__ import annotations

import re

import pytest

from tests.browser.conftest import log_in
from tests.conftest import media_file

pytestmark = pytest.mark.browser


def test_demo_film_is_there_on_first_start(embedded_site, browser, artifacts):
    user, password = embedded_site.add_user("ada", "technician", "curator")
    page = browser.new_page()
    log_in(page, embedded_site, user, password)
    page.goto(embedded_site.url + "/")
    page.get_by_text("A Sunday in the Country (demo)").click()
    page.get_by_role("link", name="Reel 1").click()
    page.wait_for_selector("#clip-status:text('ready')", timeout=60_000)
    assert page.locator("[data-field=resolution]").inner_text() == "640x480"
    poster = page.locator("#clip-video").get_attribute("poster")
    assert poster and poster.endswith("poster.jpg")
    assert page.request.get(embedded_site.url + poster).ok
    page.screenshot(path=str(artifacts / "demo-clip.png"), full_page=True)
    page.close()


def test_technician_uploads_a_real_film_and_sees_its_metadata(embedded_site, browser, artifacts):
    source = media_file("old_film/muybridge_buffalo.mp4")
    user, password = embedded_site.add_user("grace", "technician")
    page = browser.new_page()
    log_in(page, embedded_site, user, password)
    page.get_by_role("link", name="New film").click()
    page.fill("input[name=title]", "Animal Locomotion")
    page.fill("input[name=year]", "1887")
    page.click("form.form button[type=submit]")
    page.wait_for_selector("#upload-form")
    page.set_input_files("#upload-file", str(source))
    page.screenshot(path=str(artifacts / "upload-page.png"), full_page=True)
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/clips/\d+/$"), timeout=60_000)
    page.wait_for_selector("#clip-status:text('ready')", timeout=60_000)
    assert page.locator("[data-field=resolution]").inner_text() == "400x300"
    assert page.locator("[data-field=fps]").inner_text().startswith("28.47")
    assert page.locator("[data-field=frame_count]").inner_text() == "330"
    assert page.locator("[data-field=has_audio]").inner_text().startswith("yes")
    page.screenshot(path=str(artifacts / "clip-metadata.png"), full_page=True)
    page.close()


def test_bad_file_is_refused_on_the_page(embedded_site, browser, tmp_path):
    user, password = embedded_site.add_user("alan", "technician")
    junk = tmp_path / "holiday.mp4"
    junk.write_bytes(b"definitely not a video " * 400)
    page = browser.new_page()
    log_in(page, embedded_site, user, password)
    page.get_by_role("link", name="New film").click()
    page.fill("input[name=title]", "Junk")
    page.click("form.form button[type=submit]")
    page.set_input_files("#upload-file", str(junk))
    page.click("#upload-button")
    error = page.locator("#upload-error")
    error.wait_for(state="visible", timeout=30_000)
    assert error.inner_text().startswith("Upload rejected:")
    assert "video" in error.inner_text() or "media" in error.inner_text()
    page.close()


def test_technician_uploads_loose_frames_and_watches_the_master_encode(embedded_site, browser,
                                                                       tmp_path, artifacts):
    from tests.media_factory import encode_image, sequence_frame

    files = []
    for n in (7, 1, 12, 3, 10, 2, 4, 5, 6, 8, 9, 11):  # chosen in any order
        path = tmp_path / f"scan_{n}.png"
        path.write_bytes(encode_image("png", sequence_frame(n)))
        files.append(str(path))
    user, password = embedded_site.add_user("edith", "technician")
    page = browser.new_page()
    log_in(page, embedded_site, user, password)
    page.get_by_role("link", name="New film").click()
    page.fill("input[name=title]", "Loose scans")
    page.click("form.form button[type=submit]")
    page.wait_for_selector("#upload-form")
    page.set_input_files("#upload-file", files)
    page.fill("#upload-frame-rate", "24")
    page.click("#upload-button")
    page.wait_for_url(re.compile(r"/clips/\d+/$"), timeout=60_000)
    # The page shows the encode (or, on a fast worker, what followed it), then the clip.
    page.wait_for_selector("#clip-status:text('ready')", timeout=90_000)
    assert page.locator("[data-field=resolution]").inner_text() == "64x48"
    assert page.locator("[data-field=frame_count]").inner_text() == "12"
    assert page.locator("[data-field=video_codec]").inner_text() == "ffv1"
    assert "scan_1.png … scan_12.png" in page.content()
    page.screenshot(path=str(artifacts / "loose-frames-clip.png"), full_page=True)
    page.close()
