"""The API on Starlette and asyncpg (listing 9.8) and the WebSocket user counter (listings 9.9, 9.10)."""
