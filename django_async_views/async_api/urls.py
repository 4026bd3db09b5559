"""Routes of the async_api app."""

from django.urls import path

from . import views

app_name = "async_api"

urlpatterns: list = [
    path("", views.index, name="index"),
]
