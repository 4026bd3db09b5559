"""The data layer of listing 9.8: the very queries of aiohttp_api, because SQL does not depend on the web framework."""

# The functions take an asyncpg pool and raise domain errors (ProductNotFound,
# UnknownBrand), never HTTP ones, so nothing in them is aiohttp's: importing
# aiohttp_api.db imports asyncpg and products_db only. One copy of the SQL means
# the frameworks cannot drift apart, and the benchmark compares only what
# differs between them: the HTTP layer.
from aiohttp_api.db import INSERT_PRODUCT, SELECT_BRANDS, SELECT_PRODUCT, brands, create_product, product

__all__ = ["INSERT_PRODUCT", "SELECT_BRANDS", "SELECT_PRODUCT", "brands", "create_product", "product"]
