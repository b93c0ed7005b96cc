"""Running the studio: waitress in the foreground (`jazzgen serve`) or on a background thread.

The application itself is built by `jazzgen.web.app.create_app`; this module only serves it,
with bounded threads, connections and request bodies, and removes the sessions' files on the
way out.
"""

from __future__ import annotations

import logging
import signal
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

from flask import Flask

from jazzgen.web.app import MAX_BODY_BYTES, create_app


def serve(model_dir: str | Path | None = None, host: str = "127.0.0.1", port: int = 8000,
          echo=print, **app_options) -> None:
    """Start the studio and block until interrupted; the sessions' files are removed on the way out."""
    import waitress

    app = create_app(model_dir, **app_options)
    store = app.extensions["jazzgen"]["store"]
    # One short take through the app first: imports, the library's caches and the synthesizer's
    # tones are ready before the first person clicks (its files go with its session, unused).
    app.test_client().post("/api/generate", json={"chart": "Dm7 G7 | Cmaj7", "bars": 2})
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(message)s")
    if host not in ("127.0.0.1", "localhost", "::1"):
        echo(f"warning: listening on {host}: anyone who can reach this machine can use the studio")
    echo(f"jazzgen studio on http://{'127.0.0.1' if host == '0.0.0.0' else host}:{port}/ (Ctrl-C stops it)")

    def stop(signum, frame):  # SIGTERM ends the server like Ctrl-C: through the cleanup below
        raise SystemExit(0)

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, stop) if main_thread else None
    try:
        # threads: requests in flight (generation itself is bounded by the queue);
        # connection_limit: sockets held open at once; channel_timeout: idle sockets closed after.
        waitress.serve(app, host=host, port=port, threads=8, connection_limit=64, channel_timeout=30,
                       max_request_body_size=MAX_BODY_BYTES, ident="jazzgen", _quiet=True)
    finally:
        store.close()
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


@contextmanager
def background_server(app: Flask, host: str = "127.0.0.1", port: int = 0, threads: int = 8):
    """Serve `app` with waitress on a background thread; yields its base URL (tests, benchmarks)."""
    import waitress
    from waitress import wasyncore

    server = waitress.create_server(app, host=host, port=port, threads=threads, connection_limit=64,
                                    channel_timeout=30, max_request_body_size=MAX_BODY_BYTES)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.effective_port}"
    finally:
        # Workers first (they pull the loop's trigger when done), then every socket: the loop
        # ends when its map is empty.
        server.task_dispatcher.shutdown()
        wasyncore.close_all(server._map)
        thread.join(timeout=5)
