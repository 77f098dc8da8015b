"""The web page in a real browser: Playwright driving Debian's Chromium against the service
as users run it (uvicorn, a Celery worker, Postgres, Redis, the S3 server). Screenshots of
each state go to `test-artifacts/` (not committed): look at them."""

from __future__ import annotations

import os
import secrets
import shutil
import time
from pathlib import Path

import httpx
import pytest

from cli.local_stack import REPO_ROOT, ServiceProcesses, tenant_command
from pipeline.video.samples import DUO
from tests.clips import make_clip
from tests.stacks import service_env, tenant_client

pytestmark = [pytest.mark.e2e, pytest.mark.services, pytest.mark.timeout(400)]

ARTIFACTS = Path(os.environ.get("TEST_ARTIFACTS", REPO_ROOT / "test-artifacts")) / "web"


def chromium_path() -> str:
    """CHROMIUM_PATH, else the `chromium` on PATH; absent: skipped, or failed under CI."""
    path = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium")
    if not path:
        message = "no Chromium: install Debian's `chromium` or set CHROMIUM_PATH"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium_path(),
            args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"],
        )
        yield browser
        browser.close()


@pytest.fixture
def page(browser, request):
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.problems = problems
    yield page
    context.close()


def wait_until(condition, timeout_s: float = 20.0) -> None:
    """Poll from Python: the page's Content-Security-Policy forbids the string evaluation
    that Playwright's wait_for_function uses (and the tests keep that policy on)."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("the page did not get there in time")
        time.sleep(0.1)


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def sign_in(page, url: str, key: str) -> None:
    page.goto(url + "/")
    page.wait_for_selector("#sign-in:not([hidden])")
    page.fill("#api-key", key)
    page.keyboard.press("Enter")  # the form works from the keyboard
    page.wait_for_selector("#workspace:not([hidden])")


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    return make_clip(
        tmp_path_factory.mktemp("web") / "dance.mp4", frames=60, fps=15, audio=True, beat_bpm=120
    )


def test_upload_follow_watch_and_download(page, stack, tenant, clip):
    sign_in(page, stack.api_url, tenant["api_key"])
    shot(page, "1-signed-in")

    page.set_input_files("#video-file", str(clip))
    page.check("#angle-labels")
    assert page.input_value("#smoothing") == "light"  # the service's default
    page.select_option("#smoothing", "strong")
    page.click("#upload-button")
    page.wait_for_selector("#upload-progress[value='100']")
    page.wait_for_selector("#job[data-status=processing], #job[data-status=succeeded]")
    shot(page, "2-processing")
    page.wait_for_selector("#job[data-status=succeeded]", timeout=180_000)
    shot(page, "3-succeeded")

    job = page.locator("#job")
    assert job.get_attribute("data-transport") == "events"  # followed through SSE
    seen = [int(p) for p in job.get_attribute("data-progress-seen").split(",")]
    assert seen[-1] == 100 and seen == sorted(seen) and len(set(seen)) >= 3
    assert page.inner_text("#job-percent") == "100%"

    # the video plays: data loaded, and its time moves on
    video = "document.getElementById('result-video')"
    wait_until(lambda: page.evaluate(f"{video}.readyState") >= 2)
    page.evaluate(f"{video}.muted = true")
    page.evaluate(f"{video}.play()")
    start = page.evaluate(f"{video}.currentTime")
    wait_until(lambda: page.evaluate(f"{video}.currentTime") > start + 0.5)
    shot(page, "4-playing")

    # the plots: drawn with data; a click on one seeks the video to its time
    for plot in ("plot-angles", "plot-energy", "plot-visibility"):
        page.wait_for_selector(f"#{plot}[data-points] canvas")
        assert int(page.get_attribute(f"#{plot}", "data-points")) >= 30
    assert "music 120 BPM" in page.inner_text("#plot-energy-text")
    assert "pose found in" in page.inner_text("#plot-visibility-text")
    page.evaluate(f"{video}.pause()")
    over = page.locator("#plot-energy .u-over")
    box = over.bounding_box()
    over.click(position={"x": box["width"] * 0.25, "y": box["height"] / 2})
    quarter = page.evaluate(f"{video}.currentTime")
    over.click(position={"x": box["width"] * 0.75, "y": box["height"] / 2})
    three_quarters = page.evaluate(f"{video}.currentTime")
    assert 1.0 < three_quarters - quarter < 3.0  # a 4-second clip: half of it apart
    shot(page, "4a-plots")

    cards = page.locator(".card").all_inner_texts()
    assert any("Music tempo" in c and "120 BPM" in c for c in cards), cards
    assert any("symmetry" in c and "%" in c for c in cards), cards
    links = page.eval_on_selector_all("#downloads a", "links => links.map(a => a.href)")
    assert len(links) == 4
    for url in links:
        assert httpx.get(url, timeout=30).status_code == 200
    # the motion files, each with what to open it with
    motion = page.locator("#motion-files li").all_inner_texts()
    assert [line.split(" — ")[0] for line in motion] == [
        "motion.bvh", "markers.trc", "world_landmarks.csv",
    ]  # fmt: skip
    assert "Blender" in motion[0] and "OpenSim" in motion[1] and "pandas" in motion[2]
    bvh = page.get_attribute("#motion-files a >> nth=0", "href")
    assert httpx.get(bvh, timeout=30).text.startswith("HIERARCHY\nROOT Hips")
    job_id = job.get_attribute("data-job-id")
    status = httpx.get(
        f"{stack.api_url}/api/status/{job_id}",
        headers={"Authorization": f"Bearer {tenant['api_key']}"},
        timeout=30,
    ).json()
    assert status["options"]["smoothing"] == "strong"
    row = page.locator(f"#history-list li[data-job-id='{job_id}']")
    row.locator(".status", has_text="succeeded").wait_for()
    row.get_by_role("button", name="Open").click()  # opened again from the history
    page.wait_for_selector("#result:not([hidden]) #plot-angles[data-points] canvas")

    # delete, after confirming
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    row.wait_for(state="detached")
    shot(page, "4b-deleted")
    # the one expected failure: the first look at /api/jobs without a key, to learn whether
    # the service asks for one
    assert [p for p in page.problems if "status of 401" not in p] == []


def test_another_tenant_sees_none_of_these_jobs(page, stack, tenant, clip):
    other = tenant_command(stack.env, "create", f"web-{secrets.token_hex(3)}")
    sign_in(page, stack.api_url, other["api_key"])
    page.wait_for_selector("#history-empty:not([hidden])")
    assert page.locator("#history-list li").count() == 0
    shot(page, "5-other-tenant")


def test_a_wrong_key_and_a_bad_file_show_their_messages(page, stack, tenant, tmp_path):
    page.goto(stack.api_url + "/")
    page.fill("#api-key", "dak_not-a-key")
    page.click("#sign-in-form button")
    page.wait_for_selector("#sign-in-error:has-text('not accepted')")

    sign_in(page, stack.api_url, tenant["api_key"])
    not_video = tmp_path / "notes.mp4"
    not_video.write_bytes(b"these are not the frames you are looking for" * 100)
    page.set_input_files("#video-file", str(not_video))
    page.click("#upload-button")
    page.wait_for_selector("#upload-error:has-text('not_a_video')")
    shot(page, "6-not-a-video")

    broken = tmp_path / "broken.mp4"  # looks like MP4 to the gateway; the worker refuses it
    broken.write_bytes(b"\x00\x00\x00\x18ftypisom\x00\x00\x02\x00isomiso2" + os.urandom(30_000))
    page.set_input_files("#video-file", str(broken))
    page.click("#upload-button")
    page.wait_for_selector("#job[data-status=failed]", timeout=120_000)
    assert "corrupt_video" in page.inner_text("#job-error")
    shot(page, "7-failed")


def test_compare_two_performances_side_by_side(page, stack, tenant, clip):
    with tenant_client(stack.api_url, tenant["api_key"]) as client:
        ids = []
        for name in ("reference.mp4", "attempt.mp4"):
            with open(clip, "rb") as fh:
                answer = client.post("/api/jobs", files={"video": (name, fh, "video/mp4")})
            ids.append(answer.json()["job_id"])
        for job_id in ids:
            wait_until(
                lambda job_id=job_id: (
                    client.get(f"/api/jobs/{job_id}").json()["status"] == "succeeded"
                ),
                timeout_s=180,
            )

    sign_in(page, stack.api_url, tenant["api_key"])
    page.select_option("#compare-reference", ids[0])
    page.select_option("#compare-attempt", ids[1])
    assert page.input_value("#compare-mirror") == "auto" and page.is_checked("#compare-video")
    page.click("#compare-button")
    page.wait_for_selector("#comparison[data-status=succeeded]", timeout=180_000)
    assert float(page.inner_text("#similarity").split(" / ")[0]) >= 99  # the same clip
    assert "Pose" in page.inner_text("#comparison-cards")
    assert page.locator("#beat-strip button").count() >= 4  # a 4-second clip
    assert "perfect" in page.inner_text("#beat-legend")
    assert page.is_hidden("#side-by-side")  # the comparison video instead of the two videos
    assert "Nothing to point out" in page.inner_text("#feedback")

    # comparison.mp4 plays, and a click on a move jumps it there (it starts at the path's
    # first reference time, here 0: the same clip)
    video = "document.getElementById('comparison-video')"
    wait_until(lambda: page.evaluate(f"{video}.readyState") >= 2)
    assert page.evaluate(f"{video}.videoWidth") >= 640
    button = "#beat-strip button >> nth=2"
    target = float(page.get_attribute(button, "data-reference-start"))
    page.click(button)
    wait_until(lambda: abs(page.evaluate(f"{video}.currentTime") - target) < 0.1)
    shot(page, "8-compare")

    # without the video: both jobs' videos, the attempt kept in step along the path
    page.uncheck("#compare-video")
    page.select_option("#compare-mirror", "off")
    page.click("#compare-button")
    page.wait_for_selector("#side-by-side:not([hidden])", timeout=180_000)
    page.wait_for_selector("#comparison[data-status=succeeded]", timeout=180_000)
    assert page.is_hidden("#comparison-figure")
    pair = "document.getElementById('{}')"
    for name in ("reference-video", "attempt-video"):
        wait_until(lambda name=name: page.evaluate(f"{pair.format(name)}.readyState") >= 2)
    page.click("#worst-segments button >> nth=0")
    target = float(page.get_attribute("#worst-segments button >> nth=0", "data-reference-start"))
    wait_until(
        lambda: abs(page.evaluate(f"{pair.format('reference-video')}.currentTime") - target) < 0.1
    )
    wait_until(
        lambda: (
            abs(
                page.evaluate(f"{pair.format('attempt-video')}.currentTime")
                - page.evaluate(f"{pair.format('reference-video')}.currentTime")
            )
            < 0.2
        )
    )
    shot(page, "8b-compare-without-video")


def test_several_dancers_each_get_their_cards_and_plots(page, stack, tenant, tmp_path):
    duo = make_clip(
        tmp_path / "duo.mp4", person=DUO, width=640, height=240, frames=45, fps=15, audio=True
    )
    sign_in(page, stack.api_url, tenant["api_key"])
    page.set_input_files("#video-file", str(duo))
    page.fill("#max-people", "2")
    page.uncheck("#exports input[value=trc]")  # motion files: a BVH each and the CSV
    page.click("#upload-button")
    page.wait_for_selector("#job[data-status=succeeded]", timeout=180_000)
    page.wait_for_selector("#dancer-choice:not([hidden])")
    assert page.eval_on_selector_all("#dancer option", "os => os.map(o => o.textContent)") == [
        "#1",
        "#2",
    ]
    page.wait_for_selector("#plot-angles[data-points] canvas")
    cards = page.locator(".card").all_inner_texts()
    assert any("Dancers" in c and "2" in c for c in cards), cards
    # how in step the two are: the two photos' poses are too unlike to compare
    job_id = page.locator("#job").get_attribute("data-job-id")
    status = httpx.get(
        f"{stack.api_url}/api/status/{job_id}",
        headers={"Authorization": f"Bearer {tenant['api_key']}"},
        timeout=30,
    ).json()
    assert status["analysis"]["group"] == {"score": None, "leader": None}
    assert any("Group in step" in c and "not comparable" in c for c in cards), cards
    assert page.locator("#group-steps").is_hidden()  # nothing to say moment by moment
    first = page.inner_text("#plot-angles-text")
    other = "2" if page.input_value("#dancer") == "1" else "1"
    page.select_option("#dancer", other)
    wait_until(lambda: page.inner_text("#plot-angles-text") != first)  # the other's angles
    assert int(page.get_attribute("#plot-angles", "data-points")) >= 40
    motion = page.locator("#motion-files a").all_inner_texts()
    assert motion == [
        "motion_person1.bvh (dancer #1)", "motion_person2.bvh (dancer #2)", "world_landmarks.csv",
    ]  # fmt: skip
    shot(page, "9-dancers")
    assert [p for p in page.problems if "status of 401" not in p] == []


def test_each_dancer_in_or_out_of_step_follows_the_video(page, stack, tenant, tmp_path):
    """The shared footage's girl beside herself 0.2 s later: under the video, a marker per
    dancer says, for the moment shown, whether they are in step and who is behind; it is
    what analysis.json's group says of that moment."""
    from bench import compare_takes as takes
    from tests.clips import shared_file
    from tests.pipeline.analysis.test_group_footage import _side_by_side

    shared_file(takes.DANCERS / takes.GIRL.clip)
    twins = tmp_path / "twins.mp4"
    _side_by_side(twins, takes.decode(takes.GIRL).frames)
    sign_in(page, stack.api_url, tenant["api_key"])
    page.set_input_files("#video-file", str(twins))
    page.fill("#max-people", "2")
    page.click("#upload-button")
    page.wait_for_selector("#job[data-status=succeeded]", timeout=240_000)
    page.wait_for_selector("#group-steps:not([hidden]) .step")
    job_id = page.locator("#job").get_attribute("data-job-id")
    headers = {"Authorization": f"Bearer {tenant['api_key']}"}
    status = httpx.get(f"{stack.api_url}/api/status/{job_id}", headers=headers, timeout=30)
    analysis = httpx.get(status.json()["result"]["analysis_url"], timeout=30).json()
    [pair] = analysis["group"]["pairs"]
    window = next(w for w in pair["segments"] if w["start_s"] <= 3.0 < w["end_s"])
    assert window["offset_ms"] > 50  # the copy is behind at 3 s

    video = "document.getElementById('result-video')"
    wait_until(lambda: page.evaluate(f"{video}.readyState") >= 2)
    page.evaluate(f"{video}.currentTime = 3.0")
    first, second = pair["dancers"]
    marker = "#group-steps .step[data-person='{}']"
    behind = f"{window['offset_ms']} ms behind"  # once the seek is done, the 3 s window's
    wait_until(lambda: behind in page.inner_text(marker.format(second)))
    later = page.inner_text(marker.format(second))
    earlier = page.inner_text(marker.format(first))
    assert later.startswith(f"#{second} ") and f"{window['offset_ms']} ms behind" in later
    assert earlier.startswith(f"#{first} ") and f"{window['offset_ms']} ms ahead" in earlier
    state = "in" if window["score"] >= 75 else "out"
    assert page.get_attribute(marker.format(second), "data-state") == state
    shot(page, "9a-in-step")
    assert [p for p in page.problems if "status of 401" not in p] == []


def test_the_page_fits_a_phone_screen(browser, stack, tenant):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    sign_in(page, stack.api_url, tenant["api_key"])
    page.wait_for_selector("#history-list li")
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390  # nothing wider than the screen
    shot(page, "9-phone")
    context.close()


def test_a_large_file_goes_straight_to_storage(page, stack, tenant, clip):
    sign_in(page, stack.api_url, tenant["api_key"])
    page.evaluate("localStorage.setItem('dance.directUploadBytes', '0')")  # every file is large
    page.reload()
    page.wait_for_selector("#workspace:not([hidden])")
    page.set_input_files("#video-file", str(clip))
    page.click("#upload-button")
    page.wait_for_selector("#job[data-status=succeeded]", timeout=180_000)
    assert page.get_attribute("#upload", "data-route") == "direct"
    assert page.get_attribute("#upload-progress", "value") == "100"
    shot(page, "10-direct-upload")


def test_without_the_event_stream_the_page_falls_back_to_polling(page, stack, tenant, clip):
    # a proxy that breaks streams: every request to the events route fails at the network
    page.route("**/events", lambda route: route.abort("connectionreset"))
    sign_in(page, stack.api_url, tenant["api_key"])
    page.set_input_files("#video-file", str(clip))
    page.click("#upload-button")
    page.wait_for_selector("#job[data-status=succeeded]", timeout=180_000)
    assert page.get_attribute("#job", "data-transport") == "polling"
    assert page.inner_text("#job-percent") == "100%"


def test_with_auth_off_the_page_asks_for_no_key(
    browser,
    pg_url,
    redis_url,
    moto_server,
    bucket,
    tmp_path,
):
    env = service_env(pg_url=pg_url, redis_url=redis_url, moto_server=moto_server, bucket=bucket[1])
    services = ServiceProcesses({**env, "AUTH_REQUIRED": "false"}, tmp_path / "logs")
    services.start_api()
    try:
        services.wait_api(60)
        context = browser.new_context()
        page = context.new_page()
        page.goto(services.api_url + "/")
        page.wait_for_selector("#workspace:not([hidden])")
        assert page.is_hidden("#sign-in") and page.is_hidden("#sign-out")
        shot(page, "11-auth-off")
        context.close()
    finally:
        services.stop()
