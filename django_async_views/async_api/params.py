"""Query parameters of the async views, checked against the bounds in settings (bad input is a 400, never a 500)."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from products_db.rules import InvalidInput

from .outbound import TargetPolicy

_INTEGER = re.compile(r"[0-9]{1,9}")
_NUMBER = re.compile(r"[0-9]{1,9}(\.[0-9]{1,6})?")
MAX_URL_LENGTH = 2048
FORMATS = ("html", "json")
TRUE_WORDS = ("True", "true", "1")
FALSE_WORDS = ("False", "false", "0")


@dataclass(frozen=True)
class Limits:
    """The documented upper bounds, read once from Django settings (settings.py gives their defaults and reasons)."""

    max_request_num: int
    max_num_calls: int
    max_sleep_time: float
    max_total_sleep: float
    request_timeout: float
    max_response_bytes: int
    max_batch_bytes: int
    allowed_target_hosts: tuple[str, ...]

    @classmethod
    def from_settings(cls) -> Limits:
        from django.conf import settings

        return cls(
            max_request_num=settings.ASYNC_API_MAX_REQUEST_NUM,
            max_num_calls=settings.ASYNC_API_MAX_NUM_CALLS,
            max_sleep_time=settings.ASYNC_API_MAX_SLEEP_TIME,
            max_total_sleep=settings.ASYNC_API_MAX_TOTAL_SLEEP,
            request_timeout=settings.ASYNC_API_REQUEST_TIMEOUT,
            max_response_bytes=settings.ASYNC_API_MAX_RESPONSE_BYTES,
            max_batch_bytes=settings.ASYNC_API_MAX_BATCH_BYTES,
            allowed_target_hosts=tuple(settings.ASYNC_API_ALLOWED_TARGET_HOSTS),
        )

    @property
    def target_policy(self) -> TargetPolicy:
        return TargetPolicy.of(self.allowed_target_hosts)


@dataclass(frozen=True)
class BatchParams:
    url: str
    request_num: int


@dataclass(frozen=True)
class SleepParams:
    sleep_time: float
    num_calls: int
    thread_sensitive: bool


def required(query: Mapping[str, str], name: str, allowed: str) -> str:
    value = query.get(name)
    if value is None or value == "":
        raise InvalidInput(f"missing query parameter {name}: {allowed}")
    return value


def parse_int(query: Mapping[str, str], name: str, low: int, high: int) -> int:
    allowed = f"an integer from {low} to {high}"
    raw = required(query, name, allowed)
    if not _INTEGER.fullmatch(raw) or not low <= int(raw) <= high:
        raise InvalidInput(f"{name} must be {allowed}, got {raw!r}")
    return int(raw)


def parse_seconds(query: Mapping[str, str], name: str, high: float) -> float:
    allowed = f"a number of seconds from 0 to {high:g}"
    raw = required(query, name, allowed)
    if not _NUMBER.fullmatch(raw) or not 0 <= float(raw) <= high:
        raise InvalidInput(f"{name} must be {allowed}, got {raw!r}")
    return float(raw)


def parse_bool(query: Mapping[str, str], name: str) -> bool:
    allowed = "True or False"
    raw = required(query, name, allowed)
    if raw in TRUE_WORDS:
        return True
    if raw in FALSE_WORDS:
        return False
    raise InvalidInput(f"{name} must be {allowed}, got {raw!r}")


def parse_format(query: Mapping[str, str], accept_prefers_html: bool) -> str:
    """format=html or format=json when given; without it, what the Accept header prefers."""
    raw = query.get("format")
    if raw is None:
        return "html" if accept_prefers_html else "json"
    if raw not in FORMATS:
        raise InvalidInput(f"format must be html or json, got {raw!r}")
    return raw


def parse_target_url(query: Mapping[str, str], policy: TargetPolicy) -> str:
    """An absolute http(s) URL with a host the policy does not refuse outright (outbound.py)."""
    raw = required(query, "url", "an absolute http:// or https:// URL")
    if len(raw) > MAX_URL_LENGTH:
        raise InvalidInput(f"url must be at most {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(raw)
        parts.port  # noqa: B018 - raises ValueError for a port out of range
    except ValueError as error:
        raise InvalidInput(f"url is not a valid URL ({error}): {raw!r}") from None
    if parts.scheme not in ("http", "https"):
        raise InvalidInput(f"url must start with http:// or https://, got {raw!r}")
    if not parts.hostname:
        raise InvalidInput(f"url must name a host, got {raw!r}")
    if any(ch.isspace() or ord(ch) < 32 for ch in raw):
        raise InvalidInput("url must not contain spaces or control characters")
    if refusal := policy.refusal(parts.hostname):
        raise InvalidInput(refusal)
    return raw


def parse_batch(query: Mapping[str, str], limits: Limits) -> BatchParams:
    return BatchParams(
        url=parse_target_url(query, limits.target_policy),
        request_num=parse_int(query, "request_num", 1, limits.max_request_num),
    )


def parse_sleeps(query: Mapping[str, str], limits: Limits) -> SleepParams:
    params = SleepParams(
        sleep_time=parse_seconds(query, "sleep_time", limits.max_sleep_time),
        num_calls=parse_int(query, "num_calls", 1, limits.max_num_calls),
        thread_sensitive=parse_bool(query, "thread_sensitive"),
    )
    total = params.sleep_time * params.num_calls
    if not math.isfinite(total) or total > limits.max_total_sleep:
        raise InvalidInput(
            f"sleep_time x num_calls must be at most {limits.max_total_sleep:g} seconds "
            f"(thread-sensitive calls run one after another), got {total:g}"
        )
    return params
