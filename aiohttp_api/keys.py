"""Typed keys for what the application holds: aiohttp checks the type of each value."""

import asyncpg
from aiohttp import web

from products_db.config import Settings

SETTINGS = web.AppKey("settings", Settings)
POOL = web.AppKey("pool", asyncpg.Pool)
