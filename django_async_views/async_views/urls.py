"""The project's URLs: everything lives in the async_api app."""

from django.urls import include, path

urlpatterns = [
    path("", include("async_api.urls")),
]

# Errors raised outside a view (an unknown path, a bad Host header, a crash) get
# JSON bodies like every other error of the API, instead of Django's HTML pages.
handler400 = "async_api.errors.bad_request"
handler403 = "async_api.errors.permission_denied"
handler404 = "async_api.errors.not_found"
handler500 = "async_api.errors.server_error"
