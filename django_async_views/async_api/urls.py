"""Routes of the async_api app."""

from django.urls import path

from . import rest_views, views

app_name = "async_api"

urlpatterns: list = [
    path("", views.index, name="index"),
    # Listing 9.13; the book mounts the app at requests/, here the prefix is on each route
    # because the same app also serves the REST API.
    path("requests/", views.requests_view, name="requests"),
    path("requests/sync_to_async", views.sync_to_async_view, name="sync_to_async"),
    path("requests/async_to_sync", views.requests_view_sync, name="async_to_sync"),
    path("requests/loop", views.loop_view, name="loop"),
    # The REST API every framework serves (see rest_views.py); the id is captured as a
    # string so products_db.rules decides what a valid id is (400, like aiohttp).
    path("brands", rest_views.brands, name="brands"),
    path("products/<str:product_id>", rest_views.get_product, name="product"),
    path("product", rest_views.create_product, name="create_product"),
    path("healthz", rest_views.healthz, name="healthz"),
    path("readyz", rest_views.readyz, name="readyz"),
]
