"""What the HTTP layer refuses before the input rules see a body: its media type, its header fields.

Every framework answers these alike: the same statuses, the same JSON messages.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .config import positive_setting
from .rules import InvalidInput

# The bounds gunicorn puts on a request's header fields (limit_request_fields,
# limit_request_field_size); uvicorn with httptools has none.
MAX_REQUEST_HEADERS = 100
MAX_HEADER_BYTES = 8190


class UnsupportedMediaType(InvalidInput):
    """The body is not declared as JSON (HTTP 415)."""

    status = 415


class HeaderFieldsTooLarge(InvalidInput):
    """Too many request header fields, or one too long (HTTP 431)."""

    status = 431


def check_content_type(content_type: str | None) -> None:
    """Accept application/json (and +json types); a missing header is taken as JSON."""
    if not content_type:
        return
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type != "application/json" and not media_type.endswith("+json"):
        raise UnsupportedMediaType(f"Content-Type must be application/json, got {media_type!r} (with curl, use --json)")


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The Content-Length of an ASGI request's headers, so a body limit can refuse it before reading."""
    for name, value in headers:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None  # the server rejects a malformed length before an app sees it
    return None


@dataclass(frozen=True)
class HeaderLimits:
    """MAX_REQUEST_HEADERS fields at most, each MAX_HEADER_BYTES at most (name, ": " and value)."""

    max_fields: int = MAX_REQUEST_HEADERS
    max_field_bytes: int = MAX_HEADER_BYTES

    @classmethod
    def from_env(cls) -> HeaderLimits:
        return cls(
            max_fields=positive_setting("MAX_REQUEST_HEADERS", cls.max_fields, int),
            max_field_bytes=positive_setting("MAX_HEADER_BYTES", cls.max_field_bytes, int),
        )

    def check(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        """Raise HeaderFieldsTooLarge for headers (an ASGI scope's) past either bound."""
        count = 0
        for name, value in headers:
            count += 1
            if count > self.max_fields:
                raise HeaderFieldsTooLarge(f"request has more than {self.max_fields} header fields")
            if len(name) + 2 + len(value) > self.max_field_bytes:
                raise HeaderFieldsTooLarge(
                    f"request header field {name[:50].decode('latin-1')!r} is longer than {self.max_field_bytes} bytes"
                )
