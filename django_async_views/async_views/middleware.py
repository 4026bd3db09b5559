"""Django's security, common and clickjacking middleware with hooks on the event loop (settings_tuned.py)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponseBase
from django.middleware.clickjacking import XFrameOptionsMiddleware
from django.middleware.common import CommonMiddleware
from django.middleware.security import SecurityMiddleware
from django.utils.deprecation import MiddlewareMixin


class OnTheLoop(MiddlewareMixin):
    """Call process_request and process_response directly from async code.

    Under ASGI, Django's MiddlewareMixin runs each hook through sync_to_async: a
    trip to the request's thread and back, five per request for these three. Their
    hooks only read the request and set headers (no I/O, nothing that blocks), so
    they can run on the event loop. Under WSGI nothing changes.
    """

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.process_request(request) if hasattr(self, "process_request") else None
        response = response or await self.get_response(request)
        if hasattr(self, "process_response"):
            response = self.process_response(request, response)
        return response


class Security(OnTheLoop, SecurityMiddleware):
    pass


class Common(OnTheLoop, CommonMiddleware):
    pass


class XFrameOptions(OnTheLoop, XFrameOptionsMiddleware):
    pass
