"""Server-side latency of the studio: a 4-bar trading answer, and 32 bars with band and audio.

    python benchmarks/serve_latency.py [--answers 60] [--takes 7] [--run-dir DIR]

The real server (waitress on a loopback port, the bundled model unless --run-dir) is started in
this process and driven over HTTP like the page drives it:
    trade_answer_ms   POST /api/trades/answer with a 4-bar phrase (12 notes): primer encode,
                      sampling 4 bars, the answer's audio written; p50 and p95 over --answers
    take_32_bars_ms   POST /api/generate for 32 bars with the trio (jazzgen.generate), MIDI and WAV
                      written; median and p95 over --takes
Each is given three ways: `server` is the app's own wall time (its Server-Timing header),
`cpu` the CPU time of the thread that served it (what it takes on an idle core: on a loaded
machine the wall time mostly measures waiting for one), `round_trip` adds loopback HTTP.
Goals (2 cores, default model): answer p95 <= 50 ms, 32 bars <= 1500 ms; `*_goal_met` judge
the server wall time, `*_cpu_goal_met` the CPU time.

Prints ONE JSON object on stdout.
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the CLI sets it: one-row matmuls

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402
from http.cookiejar import CookieJar  # noqa: E402

from _util import machine  # noqa: E402

CHART = "Dm7 G7 | Cmaj7 | Cm7 F7 | Bbmaj7 | Ebm7 Ab7 | Dbmaj7 | Dm7b5 G7 | Cm7"
PHRASE = [[60 + (i * 5) % 12, i * 4 / 3, 1.0, 90] for i in range(12)]  # 12 notes over 4 bars


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of `values`."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


class Client:
    """JSON requests with a session cookie; each returns (body, server ms, CPU ms, round-trip ms)."""

    def __init__(self, url: str):
        self.url = url
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(CookieJar()))

    def post(self, path: str, body: dict):
        req = urllib.request.Request(self.url + path, data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"})
        t0 = time.perf_counter()
        with self.opener.open(req, timeout=60) as r:
            data = json.loads(r.read())
            timing = dict(part.strip().split(";dur=") for part in r.headers["Server-Timing"].split(","))
        return data, float(timing["app"]), float(timing["cpu"]), 1000 * (time.perf_counter() - t0)


def summary(pairs: list[list[float]], kind: str) -> dict:
    out = {}
    for i, name in enumerate(("server", "cpu", "round_trip")):
        values = [p[i] for p in pairs]
        out[name] = {"p50": round(statistics.median(values), 2), "p95": round(percentile(values, 95), 2),
                     "max": round(max(values), 2)} if kind == "p" else \
            {"median": round(statistics.median(values), 1), "p95": round(percentile(values, 95), 1)}
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--answers", type=int, default=60)
    p.add_argument("--takes", type=int, default=7)
    p.add_argument("--run-dir", default=None, help="a jazz run directory (default: the bundled model)")
    a = p.parse_args()

    from jazzgen.music.render import choose_synth
    from jazzgen.web.app import create_app
    from jazzgen.web.server import background_server

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(a.run_dir, temp_root=tmp)
        with background_server(app) as url:
            client = Client(url)
            client.post("/api/generate", {"chart": CHART, "bars": 4})  # warm caches (synth tones, imports)
            answers = []
            while len(answers) < a.answers:
                trade, *_ = client.post("/api/trades", {"chart": CHART, "trade_bars": 4, "rounds": 32, "tempo": 160})
                for turn in trade["turns"][: a.answers - len(answers)]:
                    start = turn["person"][0]
                    phrase = [[pitch, start + t, d, v] for pitch, t, d, v in PHRASE]
                    _, *times = client.post("/api/trades/answer",
                                            {"trade": trade["trade"], "round": turn["round"], "notes": phrase})
                    answers.append(times)
            takes = []
            for seed in range(a.takes):
                _, *times = client.post("/api/generate", {"chart": CHART, "bars": 32, "seed": seed})
                takes.append(times)
        app.extensions["jazzgen"]["store"].close()
    answer = summary(answers, "p")
    take = summary(takes, "m")
    print(json.dumps({
        "trade_answer_ms": answer, "take_32_bars_ms": take,
        "answer_p95_goal_ms": 50, "take_32_goal_ms": 1500,
        "answer_goal_met": answer["server"]["p95"] <= 50, "take_goal_met": take["server"]["p95"] <= 1500,
        "answer_cpu_goal_met": answer["cpu"]["p95"] <= 50, "take_cpu_goal_met": take["cpu"]["p95"] <= 1500,
        "answers": len(answers), "takes": len(takes),
        "band": "trio (piano, bass, drums)",
        "synth": choose_synth().name, "model": a.run_dir or "bundled default", **machine(),
    }))


if __name__ == "__main__":
    main()
