"""Listings 9.6 and 9.7: the bare WSGI and ASGI interfaces, no framework, no I/O (the benchmark's ceiling)."""
