"""Routes of the async_api app."""

from django.urls import path

from . import views

app_name = "async_api"

urlpatterns: list = [
    path("", views.index, name="index"),
    # Listing 9.13; the book mounts the app at requests/, here the prefix is on each route
    # because the same app also serves the REST API.
    path("requests/", views.requests_view, name="requests"),
    path("requests/sync_to_async", views.sync_to_async_view, name="sync_to_async"),
    path("requests/async_to_sync", views.requests_view_sync, name="async_to_sync"),
    path("requests/loop", views.loop_view, name="loop"),
]
