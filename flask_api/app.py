"""The application factory and the object `gunicorn -w 8 flask_api.app:app` serves; building it opens nothing.

The pool opens on first use, in each worker after gunicorn has forked it.
"""

from __future__ import annotations

import logging

from flask import Flask

from products_db.config import ConfigError, Settings, connect_params
from products_db.logs import configure_logging, startup_failed
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
    # A DATABASE_URL libpq cannot read stops the app now (ConfigError), instead of a 503 on every request.
    connect_params(settings.database_url)
    app = Flask("flask_api")
    setup_routes(app)  # routes.py: every route, as the other frameworks answer them
    # The production layers, each in a module a reader of listing 9.5 can skip:
    app.extensions[EXTENSION] = Database(settings)  # pool.py: psycopg2's pool, opened after the fork; statement_timeout
    setup_errors(app)  # errors.py: every error a JSON body; 503 while the database is unavailable
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES + 1  # 413 past the limit (one byte more: see views.py)
    setup_body_deadline(app, body_timeout())  # timeouts.py: a body that has not arrived in BODY_TIMEOUT s is a 408
    return app


try:
    app = create_app()
except ConfigError as error:
    # One line saying which setting is wrong, then exit code 3: gunicorn stops
    # instead of booting worker after worker into the same error.
    startup_failed(logging.getLogger(__name__), error)
