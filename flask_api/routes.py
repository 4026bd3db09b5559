"""Every route of the API in one list."""

from __future__ import annotations

from flask import Flask
from flask.typing import RouteCallable

from . import views

ROUTES: list[tuple[str, RouteCallable, list[str]]] = [
    ("/brands", views.brands, ["GET"]),
    ("/products/<product_id>", views.get_product, ["GET"]),
    ("/product", views.create_product, ["POST"]),
    ("/healthz", views.healthz, ["GET"]),
    ("/readyz", views.readyz, ["GET"]),
]


def setup_routes(app: Flask) -> None:
    # Other frameworks answer //brands with 404; Werkzeug would redirect it.
    app.url_map.merge_slashes = False
    for rule, view, methods in ROUTES:
        # Flask would answer OPTIONS itself with an empty 200; the other
        # frameworks answer 405, so the contract turns it off. (GET implies HEAD.)
        app.add_url_rule(rule, view_func=view, methods=methods, provide_automatic_options=False)
