"""The object `gunicorn -w 8 flask_api.app:app` serves; building it opens nothing (the pool opens on first use)."""

import logging

from products_db.config import ConfigError
from products_db.logs import startup_failed

from .factory import create_app

try:
    app = create_app()
except ConfigError as error:
    # One line saying which setting is wrong, then exit code 3: gunicorn stops
    # instead of booting worker after worker into the same error.
    startup_failed(logging.getLogger(__name__), error)
