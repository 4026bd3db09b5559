"""Models of the async_api app."""
