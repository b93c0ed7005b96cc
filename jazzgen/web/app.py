"""The studio's HTTP side: a Flask application served by waitress.

Flask because the work behind each request is a short, CPU-bound, synchronous call into the
library (sampling with numpy, writing MIDI, synthesizing audio): an async framework would only
hand it to a thread pool anyway. waitress because it is a maintained, pure-Python production
WSGI server with a bounded thread pool and connection limit, on every platform, with no
compiler. Generation itself goes through `GenerationQueue`, so a burst is served in turn or
refused with a JSON 503, never piled up.

Every answer is JSON (or a file); errors are `{"error": message, "field": name}` with a 4xx
status, and an unexpected failure is a JSON 500 without a traceback.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from flask import Flask, g, jsonify, request, send_file
from werkzeug.exceptions import HTTPException

from jazzgen.errors import JazzgenError
from jazzgen.music.improvise import STYLE_TEMPOS
from jazzgen.music.score import Note
from jazzgen.web import validate
from jazzgen.web.sessions import Busy, GenerationQueue, SessionStore
from jazzgen.web.studio import KEYS, METERS, Settings, Studio, cut, read_chart
from jazzgen.web.takes import Take, Trade, empty_performance, notes_json

COOKIE = "jazzgen_session"
MAX_TAKES, MAX_TRADES = 24, 4  # kept per session (with their files); older ones are removed
MAX_BODY_BYTES = 256 * 1024
STATIC = Path(__file__).resolve().parent / "static"
EXAMPLE_CHARTS = {  # starting points in the chart box (the tune book adds real tunes)
    "Blues in Bb": "title: Blues in Bb\n| Bb7 | Eb7 | Bb7 | Fm7 Bb7 |\n| Eb7 | Edim7 | Bb7 G7 | Cm7 F7 |\n"
                   "| Dm7 G7 | Cm7 F7 | Bb7 G7 | Cm7 F7 |",
    "ii-V-I in C": "title: ii-V-I in C\n| Dm7 | G7 | Cmaj7 | % |",
    "Rhythm changes A": "title: Rhythm changes, A section\n|: Bbmaj7 G7 | Cm7 F7 | Dm7 G7 | Cm7 F7 |\n"
                        "| Fm7 Bb7 | Ebmaj7 Edim7 |1. Dm7 G7 | Cm7 F7 :|2. Cm7 F7 | Bb6 |",
    "Minor blues": "title: Minor blues\n| Cm7 | % | % | % |\n| Fm7 | % | Cm7 | % |\n| Ab7 | G7 | Cm7 | G7 |",
    "Bossa ii-V": "title: Bossa ii-V\nstyle: bossa\n| Em7b5 | A7b9 | Dm7 | % |",
    "Waltz": "title: Waltz\nstyle: waltz\n| Em7b5 | A7 | Dm7 | % |",
}
CSP = "default-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
MAX_MINUTES = 15  # of music in one take or trade: audio memory grows with it (about 30 MB a minute)
log = logging.getLogger("jazzgen.web")


class Error(Exception):
    """An answer other than success: status, message and the field it concerns (if any)."""

    def __init__(self, status: int, message: str, field: str | None = None, **extra):
        self.status, self.field, self.extra = status, field, extra
        super().__init__(message)


def create_app(model_dir: str | Path | None = None, workers: int = 1, max_waiting: int = 8,
               wait_s: float = 30.0, max_sessions: int = 16, temp_root: str | Path | None = None) -> Flask:
    """The studio application, with its model loaded (once) and its session store ready.

    Args:
        model_dir: the jazz run to play with (None: the bundled default model). The page can
            choose only among the names this server offers ("default", or the run's folder name).
        workers, max_waiting, wait_s: the generation queue's bounds (see `GenerationQueue`).
        max_sessions: sessions kept (each with its own temporary folder).
        temp_root: where the sessions' temporary root folder is made (default: the system's).
    """
    app = Flask("jazzgen.web", static_folder=str(STATIC), static_url_path="/static")
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    studio = Studio(model_dir)
    models = {"default" if model_dir is None else Path(model_dir).name: studio}
    store = SessionStore(max_sessions=max_sessions, root=temp_root)
    queue = GenerationQueue(workers=workers, waiting=max_waiting, wait_s=wait_s)
    app.extensions["jazzgen"] = {"store": store, "queue": queue, "models": models}

    def session(create: bool = True, field: str | None = None):
        """This request's session (held until the request ends); without `create`, a 404 (about
        `field`) when the browser has none."""
        if "session" not in g:
            sess = store.get(request.cookies.get(COOKIE), create=create)
            if sess is None:
                raise Error(404, "no such session (it expired, or the server restarted): generate again", field)
            g.session = sess
        return g.session

    @app.teardown_request
    def release_session(error=None):
        sess = g.pop("session", None)
        if sess is not None:
            store.release(sess)

    def body() -> dict:
        data = request.get_json(silent=True)
        if data is None:
            raise Error(400, "the request body must be JSON (Content-Type: application/json)", "body")
        return data

    def answer(payload: dict, sess, status: int = 200):
        response = jsonify(payload)
        response.status_code = status
        response.set_cookie(COOKIE, sess.token, httponly=True, samesite="Strict")
        return response

    def check_length(chart, tempo: float, field: str) -> None:
        minutes = chart.total_beats / tempo
        if minutes > MAX_MINUTES:
            raise Error(400, f"{len(chart.bars)} bars at {tempo:g} bpm last {minutes:.0f} minutes; the studio plays "
                             f"at most {MAX_MINUTES} (fewer bars or a faster tempo)", field)

    def changes(perf: validate.Performance, bars: int | None = None):
        """The chart a request plays (in its key, looped to its bars); chart errors name the bar."""
        from jazzgen.music.charts import ChartError

        try:
            chart = read_chart(perf.chart, perf.meter, perf.key, bars or perf.bars)
        except ChartError as e:
            where = [{"bar": e.bar, "symbol": e.symbol, "message": str(e)}] if e.bar is not None else []
            raise Error(400, str(e), "chart", bars=where) from None
        if all(span.chord.root is None for span in chart.spans()):
            raise Error(400, "the chart is N.C. throughout: give it chords to play over", "chart")
        return chart

    @app.before_request
    def clock_in():
        g.started, g.cpu_started = time.perf_counter(), time.thread_time()

    @app.after_request
    def clock_out(response):
        # Server-Timing: the wall time spent inside the app (so clients and benchmarks can tell it
        # from the network's share) and this thread's CPU time (what it costs on an idle core).
        if "started" in g:
            wall, cpu = time.perf_counter() - g.started, time.thread_time() - g.cpu_started
            response.headers["Server-Timing"] = f"app;dur={1000 * wall:.2f}, cpu;dur={1000 * cpu:.2f}"
        # The page loads only its own files, and may not be framed by another site.
        response.headers["Content-Security-Policy"] = CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.errorhandler(validate.FieldError)
    def field_error(e):
        return jsonify({"error": str(e), "field": e.field, **e.extra}), 400

    @app.errorhandler(Error)
    def own_error(e):
        return jsonify({"error": str(e), "field": e.field, **e.extra}), e.status

    @app.errorhandler(Busy)
    def busy(e):
        response = jsonify({"error": f"the studio is busy ({e}); try again in a moment", "field": None})
        response.headers["Retry-After"] = "1"
        return response, 503

    @app.errorhandler(HTTPException)
    def http_error(e):
        return jsonify({"error": e.description or e.name, "field": None}), e.code

    @app.errorhandler(Exception)
    def unexpected(e):
        if isinstance(e, JazzgenError):  # the library's own one-line reason, without our folders in it
            return jsonify({"error": str(e).replace(str(store.root), "<session>"), "field": None}), 422
        log.exception("unexpected error in %s", request.path)
        return jsonify({"error": "internal error (the server log has the details)", "field": None}), 500

    @app.get("/")
    def index():
        return send_file(STATIC / "index.html")

    @app.get("/favicon.ico")
    def favicon():
        return "", 204  # no icon: answered so browsers do not log a missing file

    @app.get("/api/health")
    def health():
        return jsonify({"ok": True, "queue": queue.stats(), "sessions": len(store)})

    @app.get("/api/options")
    def options():
        from jazzgen.music.band import BANDS
        from jazzgen.music.charts import STYLES
        from jazzgen.music.instruments import INSTRUMENTS
        from jazzgen.music.tunes import tune_book

        return jsonify({"models": sorted(models), "instruments": list(INSTRUMENTS), "meters": list(METERS),
                        "keys": list(KEYS), "styles": list(STYLES), "bands": list(BANDS),
                        "tunes": [t["title"] for t in tune_book()],
                        "charts": EXAMPLE_CHARTS, "trade_bars": list(validate.TRADE_BARS),
                        "limits": {"bars": validate.MAX_BARS, "temperature": validate.TEMPERATURE_RANGE,
                                   "tempo": validate.TEMPO_RANGE, "chart_chars": validate.MAX_CHART_CHARS}})

    @app.get("/api/tunes/<int:index>")
    def tune(index: int):
        from jazzgen.music.tunes import tune_book

        book = tune_book()
        if not 0 <= index < len(book):
            raise Error(404, f"no tune {index} (the book has {len(book)})")
        return jsonify({k: book[index][k] for k in ("title", "key", "time_signature", "bars", "solos", "chart")})

    @app.post("/api/chart")
    def check_chart():
        data = body()
        if not isinstance(data, dict):
            raise Error(400, "the request body must be a JSON object", "body")
        perf = validate.performance({k: v for k, v in data.items() if k in ("chart", "meter")}, models)
        chart = changes(perf)
        return jsonify({"bars": len(chart.bars), "chords": len(chart.spans()), "title": chart.title,
                        "key": chart.key, "tempo": chart.tempo_qpm, "style": chart.style, "errors": []})

    @app.post("/api/generate")
    def generate():
        from jazzgen.api import generate as play

        perf = validate.performance(body(), models)
        chart = changes(perf)
        check_length(chart, perf.tempo or chart.tempo_qpm or STYLE_TEMPOS[perf.style or chart.style or "swing"],
                     "bars" if perf.bars else "chart")
        sess = session()
        with queue.slot():
            try:
                performance = play(chart=chart, seed=perf.seed, model=model_dir, temperature=perf.temperature,
                                   top_k=perf.top_k, tempo=perf.tempo, instrument=perf.instrument,
                                   band=perf.band, style=perf.style)
            except JazzgenError as e:
                # The library refuses an empty solo; over a few bars the model may simply rest.
                if "played no notes" not in str(e):
                    raise
                raise Error(422, f"the model rested through all {len(chart.bars)} bars with seed {perf.seed}: "
                                 "try another seed or more bars", "seed") from None
            take = _take(sess, performance)
        return answer(take.to_json(), sess)

    @app.post("/api/regenerate")
    def regenerate():
        data = body()
        sess = session(create=False, field="take")
        number, first, last, temperature, seed, top_k = validate.regenerate(data, sess.takes)
        old = sess.takes[number].performance
        if last > old.bars:
            raise Error(400, f"last_bar ({last}) is past the take's {old.bars} bars", "last_bar")
        with queue.slot():
            notes = studio.regenerate(old.solo.notes, old.solo.chords, old.chart.bar_starts(), old.chart.total_beats,
                                      first, last, Settings(seed, temperature, top_k), old.instrument,
                                      tempo_qpm=old.tempo_qpm)
            take = _take(sess, replace(old, solo=replace(old.solo, notes=notes), seed=seed))
        return answer(take.to_json() | {"regenerated": [first, last], "from_take": number}, sess)

    @app.post("/api/trades")
    def start_trade():
        from jazzgen.music.band import accompany, default_swing
        from jazzgen.music.instruments import find_instrument

        data = body()
        if not isinstance(data, dict):
            raise Error(400, "the request body must be a JSON object", "body")
        per_turn, rounds = validate.trade_bars(data)
        fields = {k: v for k, v in data.items() if k not in ("trade_bars", "rounds")}
        perf = validate.performance(fields, models)
        chart = changes(perf, bars=2 * per_turn * rounds)
        style = perf.style or chart.style or "swing"
        tempo = perf.tempo or chart.tempo_qpm or STYLE_TEMPOS[style]
        check_length(chart, tempo, "rounds")
        band = empty_performance(chart, accompany(chart, perf.band, style, perf.seed), find_instrument(perf.instrument),
                                 tempo, default_swing(tempo, style), style, perf.band, perf.seed)
        sess = session()
        trade = Trade(sess.next_id(), band, per_turn, rounds, perf.temperature, perf.top_k, sess.folder)
        with queue.slot():
            trade.write_band()
        sess.keep("trade", trade.number, trade, MAX_TRADES)
        return answer(trade.to_json(), sess)

    @app.post("/api/trades/answer")
    def trade_answer():
        number, round_, phrase = validate.phrase(body())
        sess = session(create=False, field="trade")
        trade: Trade | None = sess.trades.get(number)
        if trade is None:
            raise Error(404, f"no trade {number} in this session", "trade")
        if round_ >= trade.rounds:
            raise Error(400, f"round {round_} is past the trade's {trade.rounds} rounds", "round")
        with queue.slot():  # one generation at a time: two answers to one round cannot both pass
            if round_ in trade.answered:
                raise Error(409, f"round {round_} was answered already", "round")
            notes, wav = answer_phrase(studio, trade, round_, phrase)
        return answer({"round": round_, "start": trade.turn_beats(round_)[1],
                       "person": notes_json(notes[0], trade.chords), "notes": notes_json(notes[1], trade.chords),
                       "wav": wav}, sess)

    @app.get("/api/trades/<int:number>/recording.mid")
    def recording(number: int):
        sess = session(create=False, field="trade")
        trade = sess.trades.get(number)
        if trade is None:
            raise Error(404, f"no trade {number} in this session", "trade")
        path = trade.write_recording(trade.path("mid").with_name(f"trade-{number}-recording.mid"))
        return send_file(path, mimetype="audio/midi", as_attachment=True, download_name=f"jazzgen-trade-{number}.mid")

    @app.get("/api/trades/<int:number>/answers/<int:round_>.wav")
    def answer_audio(number: int, round_: int):
        sess = session(create=False, field="trade")
        trade = sess.trades.get(number)
        if trade is None or round_ not in trade.answered:
            raise Error(404, f"no answer {round_} of trade {number} in this session")
        return send_file(trade.answer_path(round_), mimetype="audio/wav")

    @app.get("/api/files/<kind>/<int:number>/<suffix>")
    def files(kind: str, number: int, suffix: str):
        sess = session(create=False)
        if kind == "take" and number in sess.takes and suffix in ("mid", "wav", "musicxml"):
            take = sess.takes[number]
            path = take.musicxml() if suffix == "musicxml" else take.path(suffix)
        elif kind == "trade" and number in sess.trades and suffix == "wav":
            path = sess.trades[number].path("wav")
        else:
            raise Error(404, f"no file {kind} {number} .{suffix} in this session")
        if not path.is_file():
            raise Error(404, f"file {kind} {number} .{suffix} is not there (yet)")
        mimetypes = {"mid": "audio/midi", "wav": "audio/wav", "musicxml": "application/vnd.recordare.musicxml+xml"}
        return send_file(path, mimetype=mimetypes[suffix], as_attachment=suffix != "wav",
                         download_name=f"jazzgen-{kind}-{number}.{suffix}")

    return app


def _take(sess, performance) -> Take:
    take = Take(sess.next_id(), performance, sess.folder)
    take.write()
    sess.keep("take", take.number, take, MAX_TAKES)
    return take


def answer_phrase(studio: Studio, trade: Trade, round_: int, phrase) -> tuple[tuple, str]:
    """jazzgen's answer to the person's phrase in round `round_`: (person notes, answer notes), WAV url.

    The phrase is cut to the person's bars and is the primer (with the silence after its last
    note), so the answer follows on from what the person just played. The answer's audio starts at
    its first bar (beat `turn_beats(round_)[1]`).
    """
    start, answer_start, answer_end = trade.turn_beats(round_)
    person = cut(tuple(Note(p, s, d, v) for p, s, d, v in phrase
                       if start - 1e-9 <= s < answer_start), start, answer_start)
    person = _monophonic(person)
    before = tuple(sorted(trade.person + trade.machine, key=lambda n: n.start_beat)) + person
    settings = Settings(trade.band.seed + round_, trade.temperature, trade.top_k)
    # The primer is the person's turn (what they just played, and the silence after it).
    notes = studio.continue_melody(_monophonic(before), trade.chords, answer_start, answer_end, settings,
                                   trade.beats_per_bar, trade.band.instrument, context_bars=trade.per_turn,
                                   tempo_qpm=trade.band.tempo_qpm)
    trade.person += list(person)
    trade.machine += list(notes)
    trade.answered.add(round_)
    wav = trade.write_answer(round_, notes, answer_start)
    return (person, notes), wav


def _monophonic(notes) -> tuple:
    """Notes cut so each ends by the next onset (a person's chords become a line)."""
    notes = sorted(notes, key=lambda n: n.start_beat)
    out = []
    for n in notes:
        if out and n.start_beat < out[-1].start_beat + 1e-6:
            continue
        if out and out[-1].end_beat > n.start_beat:
            out[-1] = replace(out[-1], duration_beats=n.start_beat - out[-1].start_beat)
        out.append(n)
    return tuple(out)

