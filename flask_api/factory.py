"""The application factory: settings, routes and the error layer; no I/O until a request needs the database."""

from __future__ import annotations

from flask import Flask

from products_db.config import Settings, connect_params
from products_db.logs import configure_logging
from products_db.rules import MAX_BODY_BYTES
from products_db.timeouts import body_timeout

from .errors import setup_errors
from .pool import EXTENSION, Database
from .routes import setup_routes
from .timeouts import setup_body_deadline


def create_app(settings: Settings | None = None) -> Flask:
    # Before Flask's logger is first used: Flask adds a handler (and a format) of
    # its own only when no handler above it takes the records.
    configure_logging()
    settings = settings or Settings.from_env()
    # A DATABASE_URL libpq cannot read stops the app now (ConfigError), instead of
    # a 503 on every request; nothing connects yet.
    connect_params(settings.database_url)
    app = Flask("flask_api")
    # Werkzeug answers 413 for a Content-Length past this size, before reading. A
    # chunked body has no length: Werkzeug then stops reading at this size without
    # an error, and parsing the first 1 MiB would accept a cut body. Reading one
    # byte more lets decode_json_body see that the body is over the limit (413).
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1
    # Other frameworks answer //brands with 404; Werkzeug would redirect it.
    app.url_map.merge_slashes = False
    # Flask's own home for an extension's state. The pool inside opens on the
    # first request, i.e. in the gunicorn worker, after the fork.
    app.extensions[EXTENSION] = Database(settings)
    setup_routes(app)
    setup_errors(app)
    # A body that does not arrive within BODY_TIMEOUT seconds frees the worker with a 408.
    setup_body_deadline(app, body_timeout())
    return app
