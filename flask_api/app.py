"""The object `gunicorn -w 8 flask_api.app:app` serves; building it opens nothing (the pool opens on first use)."""

from .factory import create_app

app = create_app()
