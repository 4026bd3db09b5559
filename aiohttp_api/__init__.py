"""The book's REST API (listings 9.1 to 9.4) on aiohttp and asyncpg."""
