"""What the HTTP layer refuses before the input rules, in-process: media types, Content-Length, header fields."""

from __future__ import annotations

import pytest

from products_db.config import ConfigError
from products_db.http_limits import (
    MAX_HEADER_BYTES,
    MAX_REQUEST_HEADERS,
    HeaderFieldsTooLarge,
    HeaderLimits,
    UnsupportedMediaType,
    check_content_type,
    declared_length,
)
from products_db.rules import InvalidInput


def test_the_refusals_are_input_errors_with_their_status() -> None:
    assert issubclass(UnsupportedMediaType, InvalidInput) and UnsupportedMediaType.status == 415
    assert issubclass(HeaderFieldsTooLarge, InvalidInput) and HeaderFieldsTooLarge.status == 431


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "",  # a missing header is taken as JSON
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        " application/json ;charset=utf-8",
        "application/merge-patch+json",
        "application/vnd.api+JSON; x=y",
        "application/json; charset=utf-8; x=y",
    ],
)
def test_json_media_types_are_accepted(content_type: str | None) -> None:
    check_content_type(content_type)


@pytest.mark.parametrize(
    ("content_type", "media_type"),
    [
        ("text/plain", "text/plain"),
        ("Text/Plain; charset=utf-8", "text/plain"),
        ("text/plain; x=application/json", "text/plain"),
        ("application/x-www-form-urlencoded", "application/x-www-form-urlencoded"),
        ("application/json-seq", "application/json-seq"),
        ("application/jsonx", "application/jsonx"),
        ("multipart/form-data; boundary=x+json", "multipart/form-data"),
        (";application/json", ""),
    ],
)
def test_other_media_types_are_refused_with_the_one_sent(content_type: str, media_type: str) -> None:
    with pytest.raises(UnsupportedMediaType) as raised:
        check_content_type(content_type)
    assert raised.value.message == (
        f"Content-Type must be application/json, got {media_type!r} (with curl, use --json)"
    )


@pytest.mark.parametrize(
    ("headers", "length"),
    [
        ([(b"host", b"x"), (b"content-length", b"12")], 12),
        ([(b"content-length", b"0")], 0),
        ([(b"host", b"x")], None),
        ([], None),
        ([(b"content-length", b"twelve")], None),
        ([(b"content-length", b"")], None),
        ([(b"content-length", b"5"), (b"content-length", b"7")], 5),
        ([(b"content-type", b"9"), (b"content-length", b"3")], 3),
    ],
)
def test_the_declared_length_is_read_from_asgi_headers(headers: list[tuple[bytes, bytes]], length: int | None) -> None:
    assert declared_length(headers) == length


def fields(count: int, size: int = 10) -> list[tuple[bytes, bytes]]:
    """count header fields, the last of size bytes as sent ("name: value")."""
    head = [(b"x-%d" % i, b"v") for i in range(count - 1)]
    return [*head, (b"x-last", b"v" * (size - len(b"x-last: ")))]


def refusal(limits: HeaderLimits, headers: list[tuple[bytes, bytes]]) -> str:
    with pytest.raises(HeaderFieldsTooLarge) as raised:
        limits.check(headers)
    return raised.value.message


def test_the_default_bounds_are_gunicorns() -> None:
    limits = HeaderLimits()
    assert (limits.max_fields, limits.max_field_bytes) == (MAX_REQUEST_HEADERS, MAX_HEADER_BYTES) == (100, 8190)


def test_up_to_the_most_fields_pass_one_more_is_refused() -> None:
    limits = HeaderLimits()
    limits.check(fields(MAX_REQUEST_HEADERS))
    limits.check([])
    assert refusal(limits, fields(MAX_REQUEST_HEADERS + 1)) == "request has more than 100 header fields"


def test_a_field_of_the_most_bytes_passes_one_more_is_refused() -> None:
    limits = HeaderLimits()
    limits.check(fields(3, MAX_HEADER_BYTES))
    message = refusal(limits, fields(3, MAX_HEADER_BYTES + 1))
    assert message == "request header field 'x-last' is longer than 8190 bytes"


def test_the_field_bytes_count_the_name_the_separator_and_the_value() -> None:
    limits = HeaderLimits(max_fields=5, max_field_bytes=10)
    limits.check([(b"abcd", b"efgh")])  # "abcd: efgh" is 10 bytes
    assert refusal(limits, [(b"abcde", b"efgh")]) == "request header field 'abcde' is longer than 10 bytes"
    assert refusal(limits, [(b"abcd", b"efghi")]) == "request header field 'abcd' is longer than 10 bytes"


def test_a_long_field_name_is_quoted_cut_to_50_bytes_latin_1() -> None:
    name = b"\xe9" + b"n" * 99
    message = refusal(HeaderLimits(max_fields=5, max_field_bytes=64), [(name, b"v")])
    assert message == f"request header field {'é' + 'n' * 49!r} is longer than 64 bytes"


def test_the_field_count_is_checked_before_the_field_size() -> None:
    limits = HeaderLimits(max_fields=2, max_field_bytes=10)
    assert refusal(limits, [(b"a", b"1"), (b"b", b"2"), (b"c", b"x" * 100)]) == "request has more than 2 header fields"


def test_the_bounds_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MAX_REQUEST_HEADERS", "3")
    monkeypatch.setenv("MAX_HEADER_BYTES", "20")
    limits = HeaderLimits.from_env()
    assert (limits.max_fields, limits.max_field_bytes) == (3, 20)
    limits.check(fields(3, 20))
    assert refusal(limits, fields(4)) == "request has more than 3 header fields"
    assert refusal(limits, fields(1, 21)) == "request header field 'x-last' is longer than 20 bytes"


def test_without_the_environment_the_bounds_are_the_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MAX_REQUEST_HEADERS", raising=False)
    monkeypatch.delenv("MAX_HEADER_BYTES", raising=False)
    assert HeaderLimits.from_env() == HeaderLimits(MAX_REQUEST_HEADERS, MAX_HEADER_BYTES)


@pytest.mark.parametrize("variable", ["MAX_REQUEST_HEADERS", "MAX_HEADER_BYTES"])
@pytest.mark.parametrize("value", ["0", "-1", "1.5", "many"])
def test_a_bound_that_is_not_a_positive_integer_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=f"^{variable} must be a positive integer, got '{value}'$"):
        HeaderLimits.from_env()
