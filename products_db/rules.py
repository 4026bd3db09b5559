"""The input rules and domain errors every API shares, so every framework answers bad input alike."""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass

# Postgres INTEGER (SERIAL ids are INTEGER): anything outside it can never
# match a row, and sending it would make the driver raise.
INT_MIN = -(2**31)
INT_MAX = 2**31 - 1
MAX_NAME_LENGTH = 200
BLANK_NAME = "product_name must not be blank (only spaces or invisible characters)"
MAX_BODY_BYTES = 1024 * 1024  # a product is a few hundred bytes; 1 MiB is plenty
NEW_PRODUCT_FIELDS = ("product_name", "brand_id")
# A JSON integer longer than this is refused before Python converts it: turning
# digits into an int takes time quadratic in their number (CPython refuses past
# 4300 digits with a ValueError), and INTEGER has 10 digits anyway.
MAX_INTEGER_DIGITS = 100
# Unicode's Bidi_Control characters: marks, embeddings, overrides and isolates that
# reorder the text around them.
BIDI_CONTROLS = frozenset("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_INTEGER = re.compile(r"-?[0-9]{1,20}")


class InvalidInput(ValueError):
    """The client sent something we cannot accept (HTTP 400)."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class PayloadTooLarge(InvalidInput):
    """The body is over MAX_BODY_BYTES (HTTP 413)."""

    status = 413

    def __init__(self) -> None:
        super().__init__(f"request body is larger than {MAX_BODY_BYTES} bytes")


class ProductNotFound(LookupError):
    """No product has this id (HTTP 404)."""

    status = 404

    def __init__(self, product_id: int) -> None:
        super().__init__(f"product {product_id} does not exist")
        self.message = str(self)


class UnknownBrand(InvalidInput):
    """A new product names a brand that does not exist (HTTP 400): the client must fix the body."""

    def __init__(self, brand_id: int) -> None:
        super().__init__(f"brand {brand_id} does not exist")


@dataclass(frozen=True)
class NewProduct:
    product_name: str
    brand_id: int


def parse_product_id(raw: str) -> int:
    """A path segment to an id, ASCII digits only (int() also takes ' 7', '+7', other scripts' digits)."""
    if not _INTEGER.fullmatch(raw):
        raise InvalidInput(f"product id must be an integer, got {raw[:50]!r}")
    value = int(raw)
    if not INT_MIN <= value <= INT_MAX:
        raise InvalidInput(f"product id must be between {INT_MIN} and {INT_MAX}")
    return value


def _bounded_int(digits: str) -> int:
    """json.loads calls this for each integer literal, before any conversion."""
    if len(digits.lstrip("-")) > MAX_INTEGER_DIGITS:
        raise InvalidInput(f"request body has an integer of more than {MAX_INTEGER_DIGITS} digits")
    return int(digits)


def _object_without_duplicates(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """json.loads calls this for each object: a key sent twice is refused, where dict() keeps the last."""
    obj: dict[str, object] = {}
    for key, value in pairs:
        if key in obj:
            raise InvalidInput(f"request body has the key {key[:50]!r} more than once")
        obj[key] = value
    return obj


def decode_json_body(raw: bytes) -> object:
    if len(raw) > MAX_BODY_BYTES:
        raise PayloadTooLarge()
    if not raw.strip():
        raise InvalidInput("request body is empty: send a JSON object")
    try:
        return json.loads(raw.decode("utf-8"), parse_int=_bounded_int, object_pairs_hook=_object_without_duplicates)
    except UnicodeDecodeError:
        raise InvalidInput("request body is not valid UTF-8") from None
    except json.JSONDecodeError as error:
        raise InvalidInput(f"request body is not valid JSON: {error.msg} at position {error.pos}") from None
    except RecursionError:
        raise InvalidInput("request body is nested too deeply") from None


def parse_new_product(body: object) -> NewProduct:
    """Validate a decoded POST /product body; every problem is a message a person can act on."""
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object with product_name and brand_id")
    missing = [field for field in NEW_PRODUCT_FIELDS if field not in body]
    if missing:
        raise InvalidInput(f"missing field(s): {', '.join(missing)}")
    unknown = sorted(field for field in body if field not in NEW_PRODUCT_FIELDS)
    if unknown:
        raise InvalidInput(f"unknown field(s): {', '.join(unknown)[:200]}")

    name = body["product_name"]
    if not isinstance(name, str):
        raise InvalidInput("product_name must be a string")
    # One spelling per name: "é" may arrive as one code point (NFC) or as "e" plus a
    # combining accent (NFD); stored as sent, the two would be different names that look alike.
    name = unicodedata.normalize("NFC", name)
    if not name:
        raise InvalidInput("product_name must not be empty")
    if len(name) > MAX_NAME_LENGTH:
        raise InvalidInput(f"product_name must be at most {MAX_NAME_LENGTH} characters")
    if is_blank(name):
        raise InvalidInput(BLANK_NAME)
    refused = next((c for c in name if unicodedata.category(c) == "Cc" or c in BIDI_CONTROLS), None)
    if refused is not None:
        # Controls fake lines in logs and terminals (CR, LF, ESC[31m; Postgres TEXT cannot hold NUL),
        # and a bidirectional override shows "gnp.exe" as "exe.png".
        kind = "bidirectional control" if refused in BIDI_CONTROLS else "control character"
        raise InvalidInput(f"product_name must not contain a {kind} (U+{ord(refused):04X})")
    try:
        name.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput("product_name must be valid Unicode (no lone surrogates)") from None

    brand_id = body["brand_id"]
    # bool is a subclass of int in Python: true must not become brand 1.
    if not isinstance(brand_id, int) or isinstance(brand_id, bool):
        raise InvalidInput("brand_id must be an integer")
    if not INT_MIN <= brand_id <= INT_MAX:
        raise UnknownBrand(brand_id)
    return NewProduct(product_name=name, brand_id=brand_id)


# Letters and marks that draw nothing: the Hangul fillers, the combining grapheme
# joiner, the Braille blank and the variation selectors.
_INVISIBLE = frozenset("\u034f\u115f\u1160\u2800\u3164\uffa0") | frozenset(
    chr(c) for c in (*range(0xFE00, 0xFE10), *range(0xE0100, 0xE01F0))
)


def is_blank(text: str) -> bool:
    """True if no character of text shows: whitespace, controls (Cc), format characters (Cf).

    str.strip() only removes whitespace: a zero-width space (U+200B), joiner (U+200D),
    word joiner (U+2060) or byte order mark (U+FEFF) is a format character, and a
    name made of them alone looks empty in every list that shows it.
    """
    return all(c.isspace() or c in _INVISIBLE or unicodedata.category(c) in ("Cc", "Cf") for c in text)
