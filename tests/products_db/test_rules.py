"""The input rules every app answers with, in-process: each rule, its bounds, its message; Postgres where it decides."""

from __future__ import annotations

import asyncpg
import pytest

from products_db.rules import (
    BLANK_NAME,
    INT_MAX,
    INT_MIN,
    MAX_BODY_BYTES,
    MAX_INTEGER_DIGITS,
    MAX_NAME_LENGTH,
    InvalidInput,
    NewProduct,
    PayloadTooLarge,
    ProductNotFound,
    UnknownBrand,
    decode_json_body,
    is_blank,
    parse_new_product,
    parse_product_id,
)


def refusal(call: object, *args: object) -> InvalidInput:
    """The InvalidInput that call(*args) raises."""
    with pytest.raises(InvalidInput) as raised:
        call(*args)  # type: ignore[operator]
    return raised.value


def test_the_errors_carry_their_status_and_message() -> None:
    assert (InvalidInput.status, PayloadTooLarge.status, ProductNotFound.status, UnknownBrand.status) == (
        400,
        413,
        404,
        400,
    )
    assert InvalidInput("no").message == str(InvalidInput("no")) == "no"
    assert ProductNotFound(7).message == str(ProductNotFound(7)) == "product 7 does not exist"
    assert UnknownBrand(9).message == "brand 9 does not exist"
    assert PayloadTooLarge().message == f"request body is larger than {MAX_BODY_BYTES} bytes"


@pytest.mark.parametrize(("raw", "value"), [("7", 7), ("-7", -7), ("007", 7), ("0", 0)])
def test_a_product_id_is_ascii_digits(raw: str, value: int) -> None:
    assert parse_product_id(raw) == value


@pytest.mark.parametrize("raw", [" 7", "7 ", "+7", "\u0667", "7.0", "1e3", "", "-", "0x1f", "1" * 21])
def test_anything_else_is_not_a_product_id(raw: str) -> None:
    assert refusal(parse_product_id, raw).message == f"product id must be an integer, got {raw!r}"


def test_a_long_bad_id_is_quoted_cut_to_50_characters() -> None:
    assert refusal(parse_product_id, "x" * 80).message == f"product id must be an integer, got {'x' * 50!r}"


async def test_the_id_bounds_are_postgres_integer_bounds(database_url: str) -> None:
    """What parse_product_id accepts, Postgres INTEGER holds; one past either end, both refuse."""
    connection = await asyncpg.connect(database_url)
    try:
        for value in (INT_MIN, INT_MAX):
            assert parse_product_id(str(value)) == value
            assert await connection.fetchval("SELECT $1::text::int", str(value)) == value
        for value in (INT_MIN - 1, INT_MAX + 1):
            message = refusal(parse_product_id, str(value)).message
            assert message == f"product id must be between {INT_MIN} and {INT_MAX}"
            with pytest.raises(asyncpg.NumericValueOutOfRangeError):
                await connection.fetchval("SELECT $1::text::int", str(value))
    finally:
        await connection.close()


def test_a_json_body_decodes_to_its_value() -> None:
    assert decode_json_body(b'{"product_name": "x", "brand_id": 1, "nested": {"a": [1, 2]}}') == {
        "product_name": "x",
        "brand_id": 1,
        "nested": {"a": [1, 2]},
    }
    assert decode_json_body(' ["\u00e9"] '.encode()) == ["\u00e9"]


def test_a_body_of_exactly_the_limit_is_read_one_byte_more_is_refused() -> None:
    body = b'{"a": 1}'
    assert decode_json_body(body + b" " * (MAX_BODY_BYTES - len(body))) == {"a": 1}
    with pytest.raises(PayloadTooLarge) as raised:
        decode_json_body(body + b" " * (MAX_BODY_BYTES - len(body) + 1))
    assert raised.value.status == 413


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "request body is empty: send a JSON object"),
        (b" \r\n\t", "request body is empty: send a JSON object"),
        (b'{"a": "\xff"}', "request body is not valid UTF-8"),
        (b'{"a": }', "request body is not valid JSON: Expecting value at position 6"),
        (b'{"a": 1', "request body is not valid JSON: Expecting ',' delimiter at position 7"),
        (b"[" * 100_000, "request body is nested too deeply"),
        (b'{"a": ' + b"9" * 4301 + b"}", f"request body has an integer of more than {MAX_INTEGER_DIGITS} digits"),
    ],
)
def test_a_body_that_is_not_json_is_refused_with_why(raw: bytes, message: str) -> None:
    assert refusal(decode_json_body, raw).message == message


def test_an_integer_of_the_most_digits_is_read_one_digit_more_is_refused() -> None:
    most = "9" * MAX_INTEGER_DIGITS
    assert decode_json_body(f"[{most}, -{most}]".encode()) == [int(most), -int(most)]
    for longer in (f"[{most}9]", f"[-{most}9]"):
        message = refusal(decode_json_body, longer.encode()).message
        assert message == f"request body has an integer of more than {MAX_INTEGER_DIGITS} digits"


def test_a_key_sent_twice_is_refused_at_any_depth() -> None:
    assert refusal(decode_json_body, b'{"a": 1, "a": 2}').message == "request body has the key 'a' more than once"
    nested = b'{"outer": {"b": 1, "c": 2, "b": 3}}'
    assert refusal(decode_json_body, nested).message == "request body has the key 'b' more than once"
    long_key = "k" * 80
    twice = f'{{"{long_key}": 1, "{long_key}": 1}}'.encode()
    assert refusal(decode_json_body, twice).message == f"request body has the key {'k' * 50!r} more than once"


def test_a_valid_product_is_parsed() -> None:
    assert parse_new_product({"product_name": "Blue shoe", "brand_id": 3}) == NewProduct("Blue shoe", 3)


@pytest.mark.parametrize("body", [[], "x", 1, None, [["product_name", "x"]]])
def test_a_body_that_is_not_an_object_is_refused(body: object) -> None:
    message = refusal(parse_new_product, body).message
    assert message == "request body must be a JSON object with product_name and brand_id"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({}, "missing field(s): product_name, brand_id"),
        ({"brand_id": 1}, "missing field(s): product_name"),
        ({"product_name": "x"}, "missing field(s): brand_id"),
        ({"product_name": "x", "brand_id": 1, "price": 2, "colour": "b"}, "unknown field(s): colour, price"),
    ],
)
def test_missing_and_unknown_fields_are_named(body: dict[str, object], message: str) -> None:
    assert refusal(parse_new_product, body).message == message


def test_a_long_list_of_unknown_fields_is_cut_to_200_characters() -> None:
    body: dict[str, object] = {"product_name": "x", "brand_id": 1} | {f"f{i:03}": 0 for i in range(100)}
    names = ", ".join(f"f{i:03}" for i in range(100))
    assert refusal(parse_new_product, body).message == f"unknown field(s): {names[:200]}"


def product(name: object, brand_id: object = 1) -> dict[str, object]:
    return {"product_name": name, "brand_id": brand_id}


@pytest.mark.parametrize(
    ("name", "message"),
    [
        (7, "product_name must be a string"),
        (None, "product_name must be a string"),
        ("", "product_name must not be empty"),
        ("x" * (MAX_NAME_LENGTH + 1), f"product_name must be at most {MAX_NAME_LENGTH} characters"),
        ("   ", BLANK_NAME),
        ("\u200b\u200d", BLANK_NAME),
        ("a\nb", "product_name must not contain a control character (U+000A)"),
        ("a\x00", "product_name must not contain a control character (U+0000)"),
        ("red\x1b[31m", "product_name must not contain a control character (U+001B)"),
        ("ab\x7f", "product_name must not contain a control character (U+007F)"),
        ("gnp\u202eexe", "product_name must not contain a bidirectional control (U+202E)"),
        ("a\u200eb\nc", "product_name must not contain a bidirectional control (U+200E)"),
        ("a\u2066b", "product_name must not contain a bidirectional control (U+2066)"),
        ("a\ud800", "product_name must be valid Unicode (no lone surrogates)"),
    ],
)
def test_a_bad_name_is_refused_with_why(name: object, message: str) -> None:
    assert refusal(parse_new_product, product(name)).message == message


def test_a_name_of_the_longest_length_is_kept() -> None:
    longest = "x" * MAX_NAME_LENGTH
    assert parse_new_product(product(longest)).product_name == longest


async def test_a_name_is_stored_in_one_spelling_nfc(database_url: str) -> None:
    """ "é" as e + combining accent is stored as the single code point, and counts as one character."""
    decomposed = "Cafe\u0301 au lait"
    parsed = parse_new_product(product(decomposed))
    assert parsed.product_name == "Caf\u00e9 au lait"
    assert parse_new_product(product("e\u0301" * MAX_NAME_LENGTH)).product_name == "\u00e9" * MAX_NAME_LENGTH
    connection = await asyncpg.connect(database_url)
    try:
        stored = await connection.fetchval("SELECT $1::text = normalize($1::text, NFC)", parsed.product_name)
    finally:
        await connection.close()
    assert stored is True


async def test_postgres_text_cannot_hold_the_nul_the_rules_refuse(database_url: str) -> None:
    connection = await asyncpg.connect(database_url)
    try:
        with pytest.raises(asyncpg.CharacterNotInRepertoireError):
            await connection.fetchval("SELECT $1::text", "a\x00")
    finally:
        await connection.close()


@pytest.mark.parametrize("brand_id", ["1", 1.0, True, False, None, [1]])
def test_a_brand_id_that_is_not_an_integer_is_refused(brand_id: object) -> None:
    assert refusal(parse_new_product, product("x", brand_id)).message == "brand_id must be an integer"


def test_a_brand_id_outside_integer_is_an_unknown_brand() -> None:
    assert parse_new_product(product("x", INT_MIN)).brand_id == INT_MIN
    assert parse_new_product(product("x", INT_MAX)).brand_id == INT_MAX
    for brand_id in (INT_MIN - 1, INT_MAX + 1):
        with pytest.raises(UnknownBrand) as raised:
            parse_new_product(product("x", brand_id))
        assert raised.value.message == f"brand {brand_id} does not exist"


@pytest.mark.parametrize(
    "text",
    [
        "",
        " \t\n\u00a0\u3000",  # whitespace, the no-break and the ideographic space included
        "\x01\x02",  # controls (Cc)
        "\u200b\u200c\u200d\u2060\ufeff",  # format characters (Cf)
        "\u3164",  # the Hangul filler, a letter that draws nothing
        "\u115f\u1160\uffa0\u034f\u2800",
        "\ufe00\ufe0f\U000e0100\U000e01ef",  # the ends of both variation selector ranges
        " \u200b\u3164\x01",
    ],
)
def test_text_that_shows_nothing_is_blank(text: str) -> None:
    assert is_blank(text)


@pytest.mark.parametrize("text", ["a", " a ", "\u200ba", "\u3164\u3131", "\ufe10", "\U000e01f0", "\u00e9"])
def test_text_with_one_visible_character_is_not_blank(text: str) -> None:
    assert not is_blank(text)
