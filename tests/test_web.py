"""The studio's server without a browser: validation, files, sessions, the queue, a loopback load.

The app runs over the bundled default model; requests ask for a few bars so each test is quick.
"""

from __future__ import annotations

import io
import json
import threading
import urllib.error
import urllib.request
import wave
from concurrent.futures import ThreadPoolExecutor

import mido
import pytest

from jazzgen.web.app import create_app
from jazzgen.web.server import background_server
from jazzgen.web.sessions import Busy, GenerationQueue, SessionStore

CHART = "Dm7 G7 | Cmaj7 | A7 | Dm7 G7"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    app = create_app(temp_root=tmp_path_factory.mktemp("studio"), max_waiting=4)
    yield app
    app.extensions["jazzgen"]["store"].close()


@pytest.fixture()
def client(app):
    return app.test_client()


def test_generate_gives_notes_with_roles_and_real_files(client):
    r = client.post("/api/generate", json={"chart": CHART, "bars": 8, "seed": 5, "tempo": 120})
    assert r.status_code == 200
    take = r.get_json()
    assert take["bars"] == 8 and take["notes"]
    assert all(0 <= n["start"] < 32 and n["start"] + n["duration"] <= 32 + 1e-9 for n in take["notes"])
    assert [c["symbol"] for c in take["chords"][:3]] == ["Dm7", "G7", "Cmaj7"]
    # The role is the value grammar's own class of the note against the chord at its onset.
    from jazzgen.music.chords import parse_chord
    from jazzgen.music.values import note_type

    bars = [["Dm7", "G7"], ["Cmaj7"], ["A7"], ["Dm7", "G7"]]  # the chart, looped over 8 bars
    for n in take["notes"]:
        bar = bars[int(n["start"] // 4) % 4]
        symbol = bar[int((n["start"] % 4) / (4 / len(bar)))]
        kind = note_type(n["pitch"], parse_chord(symbol))
        assert n["role"] == {"C": "chord", "S": "scale", "A": "approach", "X": "other"}[kind]
    midi = mido.MidiFile(file=io.BytesIO(client.get(take["files"]["midi"]).data))
    sounding = [m for t in midi.tracks if t.name == "melody" for m in t if m.type == "note_on" and m.velocity]
    assert len(sounding) == len(take["notes"])
    with wave.open(io.BytesIO(client.get(take["files"]["wav"]).data)) as w:
        assert abs(w.getnframes() / w.getframerate() - 8 * 4 * 60 / 120) < 1.0
    assert take["leadsheet"].count('class="note ') == len(take["notes"])
    assert len(take["layout"]["bars"]) == 8


def test_a_take_is_the_librarys_performance_and_regenerate_keeps_the_rest(client):
    import jazzgen

    body = {"chart": CHART, "bars": 8, "seed": 11, "instrument": "alto sax", "band": "bass"}
    a, b = client.post("/api/generate", json=body).get_json(), client.post("/api/generate", json=body).get_json()
    assert a["notes"] == b["notes"] and a["take"] != b["take"]
    same = jazzgen.generate(chords=CHART, bars=8, seed=11, instrument="alto sax", band="bass")
    assert [(n["pitch"], n["start"], n["velocity"]) for n in a["notes"]] == \
        [(n.pitch, n.start_beat, n.velocity) for n in same.notes]
    assert all(49 <= n["pitch"] <= 80 for n in a["notes"])  # the alto's range
    r = client.post("/api/regenerate", json={"take": a["take"], "first_bar": 3, "last_bar": 4, "seed": 2})
    new = r.get_json()
    assert r.status_code == 200 and new["regenerated"] == [3, 4]
    outside = lambda notes: [n for n in notes if n["start"] >= 16]  # noqa: E731
    assert outside(new["notes"]) == outside(a["notes"])
    before = lambda notes: [(n["pitch"], n["start"]) for n in notes if n["start"] < 8]  # noqa: E731
    assert before(new["notes"]) == before(a["notes"])
    inside = [n for n in new["notes"] if 8 <= n["start"] < 16]
    assert inside != [n for n in a["notes"] if 8 <= n["start"] < 16]
    assert all(n["start"] + n["duration"] <= 16 + 1e-9 and 49 <= n["pitch"] <= 80 for n in inside)


@pytest.mark.parametrize(("body", "field"), [
    ({"chart": CHART, "temperature": 9}, "temperature"),
    ({"chart": CHART, "temperature": "hot"}, "temperature"),
    ({"chart": CHART, "bars": 513}, "bars"),
    ({"chart": CHART, "bars": 0}, "bars"),
    ({"chart": CHART, "bars": 2.5}, "bars"),
    ({"chart": CHART, "tempo": True}, "tempo"),
    ({"chart": CHART, "seed": -1}, "seed"),
    ({"chart": CHART, "model": "../../etc"}, "model"),
    ({"chart": CHART, "instrument": "kazoo"}, "instrument"),
    ({"chart": CHART, "meter": "7/3"}, "meter"),
    ({"chart": CHART, "key": "H"}, "key"),
    ({"chart": CHART, "style": "polka"}, "style"),
    ({"chart": CHART, "band": "big band"}, "band"),
    ({"chart": CHART, "path": "/tmp/x"}, "path"),
    ({"chart": "x" * 5000}, "chart"),
    ({"chart": ""}, "chart"),
    ({"chart": "N.C. | N.C."}, "chart"),
    ({"chart": 12}, "chart"),
    ([CHART], "body"),
])
def test_bad_fields_are_named_in_a_json_error(client, body, field):
    r = client.post("/api/generate", json=body)
    assert r.status_code == 400
    assert r.get_json()["field"] == field and r.get_json()["error"]


def test_every_example_chart_and_a_tune_from_the_book_read(client):
    options = client.get("/api/options").get_json()
    for name, chart in options["charts"].items():
        r = client.post("/api/chart", json={"chart": chart})
        assert r.status_code == 200, (name, r.get_json())
        assert r.get_json()["title"]
    assert options["tunes"] and set(options["instruments"]) >= {"tenor sax", "trumpet"}
    tune = client.get("/api/tunes/0").get_json()
    assert tune["title"] == options["tunes"][0]
    assert client.post("/api/chart", json={"chart": tune["chart"]}).get_json()["bars"] == tune["bars"]
    assert client.get(f"/api/tunes/{len(options['tunes'])}").status_code == 404


def test_a_chart_too_short_for_any_note_still_plays_silence(client):
    trade = client.post("/api/trades", json={"chart": "time: 1/16\n| C |", "band": "bass", "trade_bars": 2,
                                            "rounds": 1, "tempo": 60})
    assert trade.status_code == 200, trade.get_json()
    with wave.open(io.BytesIO(client.get(trade.get_json()["band_wav"]).data)) as w:
        assert abs(w.getnframes() / w.getframerate() - 4 * 0.25) < 0.2  # 4 bars of a sixteenth at 60 bpm


def test_odd_meters_get_a_lead_sheet_or_a_clear_refusal_never_a_500(client):
    take = client.post("/api/generate", json={"chart": "3/4 | 13/16 C7 | 5/8 F7 |", "bars": 8, "tempo": 60}).get_json()
    assert "error" not in take
    r = client.get(take["files"]["musicxml"])
    assert r.status_code == 200 or (r.status_code == 422 and "MIDI and WAV are there" in r.get_json()["error"])
    assert client.get(take["files"]["midi"]).status_code == 200


def test_too_long_to_play_is_refused_by_field(client):
    r = client.post("/api/generate", json={"chart": CHART, "bars": 512, "tempo": 40})
    assert r.status_code == 400 and r.get_json()["field"] == "bars" and "51 minutes" in r.get_json()["error"]
    r = client.post("/api/trades", json={"chart": CHART, "trade_bars": 8, "rounds": 32, "tempo": 60})
    assert r.status_code == 400 and r.get_json()["field"] == "rounds"


def test_chart_errors_name_their_bars(client):
    r = client.post("/api/generate", json={"chart": "title: x\n|: C7 | F7 :| Cmaj7 | H7 | %"})
    data = r.get_json()
    assert r.status_code == 400 and data["field"] == "chart"
    assert [(e["bar"], e["symbol"]) for e in data["bars"]] == [(4, "H7")]
    assert data["error"].startswith("bar 4:")
    ok = client.post("/api/chart", json={"chart": "|: Dm7 G7 | % :| Cmaj7", "meter": "3/4"}).get_json()
    assert ok["bars"] == 5 and ok["chords"] == 9


def test_the_page_and_its_assets_are_served_from_the_package_only(client):
    page = client.get("/")
    assert page.status_code == 200 and "default-src 'self'" in page.headers["Content-Security-Policy"]
    html = page.get_data(as_text=True)
    for asset in ("/static/studio.js", "/static/trade.js", "/static/studio.css"):
        assert asset in html and client.get(asset).status_code == 200
    assert "http" not in html.replace("http://www.w3.org", "")  # nothing fetched from elsewhere


def test_not_json_not_found_and_too_big_are_json_answers(client):
    assert client.post("/api/generate", data="chart=C7").get_json()["field"] == "body"
    for path in ("/nope", "/api/files/take/1/../../../etc/passwd", "/api/files/take/999/mid", "/api/files/take/1/exe"):
        r = client.get(path)
        assert r.status_code == 404 and "error" in r.get_json()
    r = client.post("/api/generate", data=b"{" + b" " * 300_000 + b"}", content_type="application/json")
    assert r.status_code == 413 and "error" in r.get_json()
    assert client.get("/api/generate").status_code == 405


def test_sessions_see_only_their_own_files(app):
    mine, theirs = app.test_client(), app.test_client()
    take = mine.post("/api/generate", json={"chart": CHART, "bars": 2}).get_json()
    assert mine.get(take["files"]["midi"]).status_code == 200
    assert theirs.get(take["files"]["midi"]).status_code == 404
    theirs.set_cookie("jazzgen_session", "../../")  # a forged token is just an unknown session
    assert theirs.get(take["files"]["midi"]).status_code == 404


def test_session_folders_are_dropped_and_cleaned(tmp_path):
    store = SessionStore(max_sessions=2, root=tmp_path)
    first = store.get(None)
    (first.folder / "take-1.mid").write_bytes(b"x")
    busy = [store.get(None), store.get(None)]  # all three serving requests: none is dropped meanwhile
    assert len(store) == 3 and first.folder.exists()
    for session in [first, *busy]:
        store.release(session)
    store.release(store.get(None))  # the least recently used idle ones go
    assert not first.folder.exists() and not busy[0].folder.exists() and busy[1].folder.exists()
    assert len(store) == 2
    assert store.get(first.token).token != first.token
    assert store.get("no-such-token", create=False) is None
    store.close()
    assert not store.root.exists()


def test_a_session_store_left_open_is_removed_when_the_program_ends(tmp_path):
    import subprocess
    import sys

    code = ("import sys; from jazzgen.web.sessions import SessionStore; "
            "s = SessionStore(root=sys.argv[1]); (s.get(None).folder / 'take-1.wav').write_bytes(b'x')")
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    assert not list(tmp_path.iterdir())


def test_a_session_keeps_its_latest_takes_only(tmp_path):
    store = SessionStore(root=tmp_path)
    session = store.get(None)
    for number in range(1, 6):
        session.path("take", number, "mid").write_bytes(b"x")
        session.keep("take", number, object(), limit=3)
    assert sorted(session.takes) == [3, 4, 5]
    assert sorted(p.name for p in session.folder.iterdir()) == ["take-3.mid", "take-4.mid", "take-5.mid"]
    session.path("take", 6, "wav").write_bytes(b"x" * 1000)
    session.keep("take", 6, object(), limit=3, max_bytes=1000)  # over its disk budget: only the newest stays
    assert sorted(session.takes) == [6] and session.bytes() == 1000
    store.close()


def test_queue_serves_in_turn_and_refuses_beyond_its_bound():
    queue = GenerationQueue(workers=1, waiting=1, wait_s=5)
    release, entered = threading.Event(), threading.Event()

    def hold():
        with queue.slot():
            entered.set()
            release.wait(5)

    holder = threading.Thread(target=hold)
    holder.start()
    entered.wait(5)
    waiter = threading.Thread(target=lambda: queue.slot().__enter__())
    waiter.start()
    while queue.stats()["waiting"] < 1:
        pass
    with pytest.raises(Busy):
        with queue.slot():
            pass
    release.set()
    holder.join()
    waiter.join()
    assert queue.stats()["refused"] == 1


def test_trade_answers_after_the_phrase_and_records_both_players(client):
    start = client.post("/api/trades", json={"chart": CHART, "trade_bars": 2, "rounds": 2, "tempo": 200})
    trade = start.get_json()
    assert start.status_code == 200 and [t["jazzgen"] for t in trade["turns"]] == [[8.0, 16.0], [24.0, 32.0]]
    assert client.get(trade["band_wav"]).status_code == 200
    phrase = [[60, 0.0, 1.0, 90], [64, 1.0, 1.0, 80], [67, 2.0, 2.0, 70], [72, 9.0, 1.0, 90]]  # the last is too late
    r = client.post("/api/trades/answer", json={"trade": trade["trade"], "round": 0, "notes": phrase})
    answer = r.get_json()
    assert r.status_code == 200 and answer["start"] == 8.0
    assert [n["pitch"] for n in answer["person"]] == [60, 64, 67]
    assert answer["notes"] and all(8.0 <= n["start"] and n["start"] + n["duration"] <= 16 + 1e-9
                                   for n in answer["notes"])
    assert client.get(answer["wav"]).status_code == 200
    again = client.post("/api/trades/answer", json={"trade": trade["trade"], "round": 0, "notes": []})
    assert again.status_code == 409 and again.get_json()["field"] == "round"
    silent = client.post("/api/trades/answer", json={"trade": trade["trade"], "round": 1, "notes": []}).get_json()
    assert all(24.0 <= n["start"] < 32.0 for n in silent["notes"])
    midi = mido.MidiFile(file=io.BytesIO(client.get(trade["recording"]).data))
    notes = {t.name: sum(m.type == "note_on" and m.velocity > 0 for m in t) for t in midi.tracks}
    assert notes["you"] == 3 and notes["melody"] == len(answer["notes"]) + len(silent["notes"])
    assert notes["chords"] > 0 and notes["bass"] > 0 and notes["drums"] > 0


@pytest.mark.parametrize(("body", "field"), [
    ({"trade": 1, "round": 0, "notes": [[200, 0, 1, 90]]}, "notes"),
    ({"trade": 1, "round": 0, "notes": [[60, -1, 1, 90]]}, "notes"),
    ({"trade": 1, "round": 0, "notes": "C E G"}, "notes"),
    ({"trade": 1, "round": 99, "notes": []}, "round"),
    ({"trade": 987654, "round": 0, "notes": []}, "trade"),
])
def test_bad_phrases_are_refused_by_field(client, body, field):
    r = client.post("/api/trades/answer", json=body)
    assert r.status_code in (400, 404) and r.get_json()["field"] == field


def test_bad_trade_settings_are_refused_by_field(client):
    r = client.post("/api/trades", json={"chart": CHART, "trade_bars": 3})
    assert r.status_code == 400 and r.get_json()["field"] == "trade_bars"
    for body in ([CHART], "chart", 4):
        r = client.post("/api/trades", json=body)
        assert r.status_code == 400 and r.get_json()["field"] == "body"


def _request(url: str, body=None, raw: bytes | None = None):
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_loopback_burst_is_served_or_refused_and_the_server_stays_healthy(app):
    """20 concurrent generations and 40 malformed requests against the real server (waitress)."""
    with background_server(app) as url:
        good = [(f"{url}/api/generate", {"chart": CHART, "bars": 4, "seed": i}, None) for i in range(20)]
        bad = [(f"{url}/api/generate", None, b"{not json"), (f"{url}/api/generate", {"chart": "H7"}, None),
               (f"{url}/api/generate", {"chart": CHART, "bars": 10**6}, None),
               (f"{url}/api/trades/answer", {"trade": "x"}, None)] * 10
        with ThreadPoolExecutor(max_workers=24) as pool:
            results = list(pool.map(lambda job: _request(*job), good + bad))
        statuses = [s for s, _ in results]
        # Served, refused as busy, or (over 4 bars the model may rest throughout) refused by seed.
        assert all(s in (200, 503) or (s == 422 and body["field"] == "seed") for s, body in results[:20]), statuses
        assert sum(s in (200, 422) for s in statuses[:20]) >= 5  # one worker, four waiting: at least those served
        assert all(s == 400 and body["field"] for s, body in results[20:])
        assert all(body.get("error") for s, body in results if s == 503)
        status, health = _request(f"{url}/api/health")
        assert status == 200 and health["ok"] and health["queue"]["running"] == 0
        assert _request(f"{url}/api/generate", {"chart": CHART, "bars": 2})[0] == 200


def test_serve_binds_loopback_and_warns_when_opened(monkeypatch, tmp_path):
    import waitress

    from jazzgen.web.server import serve

    calls, lines = [], []
    monkeypatch.setattr(waitress, "serve", lambda app, **kw: calls.append(kw))
    serve(port=8123, echo=lines.append, temp_root=tmp_path)
    serve(host="0.0.0.0", port=8124, echo=lines.append, temp_root=tmp_path)
    assert not list(tmp_path.iterdir()), "the sessions' folders are removed when the server stops"
    assert calls[0]["host"] == "127.0.0.1" and calls[1]["host"] == "0.0.0.0"
    assert not any("warning" in line for line in lines[:1])
    assert any(line.startswith("warning: listening on 0.0.0.0") for line in lines)


def test_jazzgen_serve_end_to_end_and_sigterm_cleans_up(tmp_path):
    """The real command: it answers on loopback, and SIGTERM stops it with its files removed."""
    import os
    import signal
    import socket
    import subprocess
    import sys
    import time

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, TMPDIR=str(tmp_path))
    proc = subprocess.Popen([sys.executable, "-m", "jazzgen", "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                status, health = _request(f"http://127.0.0.1:{port}/api/health")
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "the server did not come up"
                time.sleep(0.2)
        assert status == 200 and health["ok"]
        assert _request(f"http://127.0.0.1:{port}/api/generate", {"chart": CHART, "bars": 2})[0] == 200
        assert [p.name[:15] for p in tmp_path.iterdir()] == ["jazzgen-studio-"]
    finally:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    assert f"http://127.0.0.1:{port}/" in out
    assert not list(tmp_path.iterdir())


def test_lead_sheet_draws_heads_rests_chords_and_bar_layout():
    from jazzgen.music.charts import parse_chart
    from jazzgen.music.score import Note, Score
    from jazzgen.web.leadsheet import engrave

    chart = parse_chart("| C7 | F7 | 3/4 Cmaj7 | G7 |")
    # Bar 1: C, D, a silent third beat, E tied into bar 2 (whose last three beats are silent).
    notes = (Note(60, 0, 1), Note(62, 1, 0.5), Note(66, 3, 2))
    svg, layout = engrave(Score(notes=notes, chords=tuple(chart.spans())), chart)
    assert svg.count('class="note ') == 3 and svg.count("♯") == 1  # F# is spelled with a sharp
    assert svg.count('<rect class="rest"') == 2 and svg.count('<path class="rest"') == 4
    assert [b["start"] for b in layout["bars"]] == [0.0, 4.0, 8.0, 11.0]
    assert [b["beats"] for b in layout["bars"]] == [4.0, 4.0, 3.0, 3.0]
    assert ">Cmaj7<" in svg and svg.count('class="chord"') == 4
