"""Every route of the API in one list."""

from aiohttp import web

from . import views


def setup_routes(app: web.Application) -> None:
    app.add_routes(
        [
            web.get("/time", views.current_time),
            web.get("/brands", views.brands),
            web.get("/products/{id}", views.get_product),
            web.post("/product", views.create_product),
            web.get("/healthz", views.healthz),
            web.get("/readyz", views.readyz),
        ]
    )
