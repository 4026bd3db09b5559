"""Views of the async_api app."""

from django.http import HttpRequest, HttpResponse


async def index(request: HttpRequest) -> HttpResponse:
    return HttpResponse("async_views")
