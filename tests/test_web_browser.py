"""The studio page in a real headless Chromium (Debian's `chromium` + `chromium-driver`).

Selenium drives the system browser through the system chromedriver; nothing is downloaded.
The server is the real one (waitress on a loopback port) over the bundled default model.
After checking the page, the first test takes a screenshot: into the test's temporary folder,
or where JAZZGEN_SCREENSHOT says (`JAZZGEN_SCREENSHOT=docs/studio.png` refreshes the README's).
"""

from __future__ import annotations

import io
import os
import shutil
import time
import wave
from pathlib import Path
from xml.etree import ElementTree

import mido
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install '.[dev]')")
if not (CHROMIUM and CHROMEDRIVER):
    pytest.skip("headless Chromium is not installed (apt-get install chromium chromium-driver)",
                allow_module_level=True)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from jazzgen.web.app import create_app
    from jazzgen.web.server import background_server

    app = create_app(temp_root=tmp_path_factory.mktemp("studio"))
    with background_server(app) as url:
        yield url
    app.extensions["jazzgen"]["store"].close()


@pytest.fixture(scope="module")
def browser():
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run", "--disable-extensions", "--mute-audio",
                 "--autoplay-policy=no-user-gesture-required", "--window-size=1100,1500"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_script_timeout(30)
    yield driver
    driver.quit()


def wait_for(driver, script: str, timeout: float = 30.0):
    """Poll a JavaScript expression until it is truthy; return its value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = driver.execute_script(f"return {script};")
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for: {script}")


def fetch(driver, url: str) -> bytes:
    """GET a URL from inside the page (with its session cookie); the body's bytes."""
    data = driver.execute_async_script(
        "const done = arguments[1];"
        "fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => done(Array.from(new Uint8Array(b))));", url)
    return bytes(data)


def open_page(browser, server):
    browser.get(server + "/")
    wait_for(browser, "document.body.dataset.ready === '1'")


def test_generate_over_a_tune_plays_draws_and_downloads(browser, server, tmp_path):
    from selenium.webdriver.support.ui import Select

    open_page(browser, server)
    tunes = Select(browser.find_element("id", "tune"))
    tune = next(o.text for o in tunes.options if o.text == "All the Things You Are")
    tunes.select_by_visible_text(tune)
    wait_for(browser, f"document.getElementById('chart').value.startsWith('title: {tune}')")
    browser.find_element("id", "bars").clear()
    browser.find_element("id", "bars").send_keys("8")
    browser.find_element("id", "generate").click()
    take = wait_for(browser, "window.studio.take")
    assert take["bars"] == 8 and take["notes"], "the take came back with notes"
    assert take["title"] == tune
    assert {n["role"] for n in take["notes"]} <= {"chord", "scale", "approach", "other"}

    # The audio element holds a playable WAV: it loads, has the take's length, and plays.
    duration = wait_for(browser, "document.getElementById('player').readyState >= 1 && "
                                 "document.getElementById('player').duration")
    assert abs(duration - 8 * 4 * 60 / take["tempo"]) < 1.0
    browser.execute_script("document.getElementById('player').play()")
    wait_for(browser, "document.getElementById('player').currentTime > 0.3", timeout=15)
    # The playheads move over the piano roll and the lead sheet while it plays.
    first = float(wait_for(browser, "document.getElementById('roll-playhead').dataset.beat"))
    time.sleep(0.4)
    assert float(browser.execute_script("return document.getElementById('roll-playhead').dataset.beat")) > first
    assert wait_for(browser, "document.getElementById('sheet-playhead').style.display === 'block'")

    # Piano roll and lead sheet drew every note, coloured by role.
    assert int(browser.execute_script("return document.getElementById('roll').dataset.notes")) == len(take["notes"])
    heads = browser.find_elements("css selector", "#leadsheet svg ellipse.note")
    assert len(heads) == len(take["notes"])
    assert browser.find_elements("css selector", "#leadsheet svg text.chord")

    # Downloads are real files of their kinds.
    midi = mido.MidiFile(file=io.BytesIO(fetch(browser, take["files"]["midi"])))
    assert [t.name for t in midi.tracks][1:3] == ["melody", "chords"]
    with wave.open(io.BytesIO(fetch(browser, take["files"]["wav"]))) as w:
        assert w.getnframes() > w.getframerate() * 5
    sheet = ElementTree.fromstring(fetch(browser, take["files"]["musicxml"]))
    assert sheet.tag == "score-partwise"
    assert len(sheet.find("part").findall("measure")) == take["bars"]
    assert next(sheet.iter("harmony"), None) is not None
    assert any(note.find("pitch") is not None for note in sheet.iter("note"))
    browser.execute_script("document.getElementById('player').pause()")
    # Nothing went wrong in the page: no script errors, no blocked or missing resources.
    assert [e for e in browser.get_log("browser") if e["level"] == "SEVERE"] == []
    screenshot = Path(os.environ.get("JAZZGEN_SCREENSHOT") or tmp_path / "studio.png")
    assert browser.save_screenshot(str(screenshot)) and screenshot.stat().st_size > 10_000


def test_chart_error_is_shown_at_its_bar(browser, server):
    open_page(browser, server)
    chart = browser.find_element("id", "chart")
    chart.clear()
    chart.send_keys("Dm7 G7 | Cmaj7 | H7 | F7")
    bad = wait_for(browser, "document.querySelector('#chart-bars .bar.bad')")
    assert bad.get_attribute("data-bar") == "3"
    assert "H7" in bad.text
    assert "bar 3" in browser.find_element("id", "chart-errors").text
    browser.find_element("id", "generate").click()
    wait_for(browser, "document.getElementById('status').classList.contains('error')")
    assert "bar 3" in browser.find_element("id", "status").text


def test_regenerate_keeps_the_other_bars(browser, server):
    open_page(browser, server)
    browser.find_element("id", "generate").click()
    first = wait_for(browser, "window.studio.take")
    browser.find_element("id", "regen-first").clear()
    browser.find_element("id", "regen-first").send_keys("5")
    browser.find_element("id", "regen-last").clear()
    browser.find_element("id", "regen-last").send_keys("8")
    browser.find_element("id", "regenerate").click()
    second = wait_for(browser, f"window.studio.take.take !== {first['take']} && window.studio.take")
    assert second["regenerated"] == [5, 8]
    outside = [n for n in first["notes"] if n["start"] >= 32]
    assert outside and outside == [n for n in second["notes"] if n["start"] >= 32]


# A Web MIDI keyboard the page finds through navigator.requestMIDIAccess, played from the test.
FAKE_MIDI = """
window.fakeMidiInput = { onmidimessage: null };
navigator.requestMIDIAccess = () => Promise.resolve({ inputs: new Map([["fake", window.fakeMidiInput]]) });
"""


def test_one_trading_round_with_key_presses_and_a_midi_keyboard(browser, server):
    from selenium.webdriver.common.action_chains import ActionChains

    browser.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": FAKE_MIDI})
    open_page(browser, server)
    assert wait_for(browser, "document.getElementById('midi-status').textContent").startswith("MIDI: 1 input")
    browser.find_element("id", "example").send_keys("ii-V-I in C")
    tempo = browser.find_element("id", "tempo")
    tempo.clear()
    tempo.send_keys("160")  # a beat is 0.375 s: count-in 1.5 s, your 2 bars 3 s, the answer 3 s
    browser.find_element("id", "trade-bars").send_keys("2")
    rounds = browser.find_element("id", "trade-rounds")
    rounds.clear()
    rounds.send_keys("1")
    browser.find_element("id", "trade-start").click()
    wait_for(browser, "window.studio.trade && window.studio.trade.phase === 'you'", timeout=10)
    body = browser.find_element("tag name", "body")
    body.click()
    actions = ActionChains(browser)
    for key in "adgk":  # C E G C: four notes in about a second, well inside the 3 s turn
        actions.key_down(key).pause(0.15).key_up(key).pause(0.1)
    actions.perform()
    play = "window.fakeMidiInput.onmidimessage({data: [%d, 74, %d]})"
    browser.execute_script(play % (0x90, 100))  # D5 from the MIDI keyboard, after the keys
    time.sleep(0.15)
    browser.execute_script(play % (0x80, 0))
    answer = wait_for(browser, "window.studio.trade.answers.length && window.studio.trade.answers[0]", timeout=10)
    played = browser.execute_script("return window.studio.trade.played")
    assert [p[0] for p in played] == [60, 64, 67, 72, 74], "the person's notes were recorded"
    assert [p[3] for p in played] == [90, 90, 90, 90, 100], "with the MIDI keyboard's velocity"
    assert [n["pitch"] for n in answer["person"]] == [60, 64, 67, 72, 74], "and sent as the phrase"
    assert answer["start"] == 8.0, "the answer starts at bar 3 (2 bars of 4 beats after beat 0)"
    assert answer["notes"] and all(8.0 <= n["start"] < 16.0 for n in answer["notes"])
    wait_for(browser, "window.studio.trade.done", timeout=10)
    recording = mido.MidiFile(file=io.BytesIO(fetch(browser, wait_for(browser, "window.studio.trade.recording"))))
    tracks = {t.name: [m for m in t if m.type == "note_on" and m.velocity > 0] for t in recording.tracks}
    assert len(tracks["you"]) == 5 and len(tracks["melody"]) == len(answer["notes"])
