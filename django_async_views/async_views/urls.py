"""The project's URLs: everything lives in the async_api app."""

from django.urls import include, path

urlpatterns = [
    path("", include("async_api.urls")),
]
