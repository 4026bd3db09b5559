"""Tooling that runs things locally: a Postgres of the project's own, every documented server, the demo.

The apps never import it; at run time they share only `products_db` (settings, pool, input rules, schema).
"""
