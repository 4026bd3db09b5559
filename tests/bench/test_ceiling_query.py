"""The database ceiling measures the very query the apps run for GET /brands, or it is no ceiling for them."""

from aiohttp_api import db as aiohttp_db
from bench import ceiling
from flask_api import db as flask_db
from starlette_app import db as starlette_db


def normalized(sql: str) -> str:
    return " ".join(sql.split())


def test_ceiling_runs_the_apps_brands_query() -> None:
    expected = normalized(ceiling.SELECT_BRANDS_JSON)
    for module in (aiohttp_db, flask_db, starlette_db):
        assert normalized(module.SELECT_BRANDS_JSON) == expected, module.__name__
