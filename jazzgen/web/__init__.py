"""`jazzgen serve`: a local web studio over the library (generate, listen, look, trade fours).

The page is a thin layer: every musical decision is made by the functions in `jazzgen.music`
and `jazzgen.stages`; this package validates requests, queues generation, keeps each browser
session's files in its own temporary folder and ships the page's assets (`static/`).
"""

from __future__ import annotations

__all__ = ["create_app", "serve"]


def create_app(*args, **kwargs):
    """The Flask application (see `jazzgen.web.app.create_app`); imported lazily."""
    from jazzgen.web.app import create_app as _create_app

    return _create_app(*args, **kwargs)


def serve(*args, **kwargs):
    """Run the studio with waitress (see `jazzgen.web.server.serve`); imported lazily."""
    from jazzgen.web.server import serve as _serve

    return _serve(*args, **kwargs)
