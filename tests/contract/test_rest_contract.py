"""The REST contract every framework serves: same requests, same answers, every bad input a JSON 4xx.

Each test carries the listing that brought its path into the book (9.2 /brands and the app's routes, 9.3
GET /products/{id}, 9.4 POST /product) and, through the server it runs on (contract/conftest.py), the listing
of that server's app: 9.2 aiohttp, 9.5 Flask, 9.8 Starlette. The health checks are past the book.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from products_db.http_limits import MAX_HEADER_BYTES, MAX_REQUEST_HEADERS
from products_db.rules import MAX_BODY_BYTES, MAX_INTEGER_DIGITS, MAX_NAME_LENGTH
from tests.conftest import query, raw_request

JSON = "application/json"


def assert_json_error(response: httpx.Response, status: int) -> str:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(JSON)
    body = response.json()
    assert list(body) == ["error"] and isinstance(body["error"], str) and body["error"]
    return body["error"]


def product_count(database_url: str) -> int:
    return query(database_url, "SELECT count(*) AS n FROM product")[0]["n"]


# --- reading -----------------------------------------------------------------------------


@pytest.mark.listing("9.2")
def test_brands_are_all_brands_in_id_order(api: httpx.Client, database_url: str) -> None:
    response = api.get("/brands")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(JSON)
    expected = query(database_url, "SELECT brand_id, brand_name FROM brand ORDER BY brand_id")
    assert response.json() == expected
    assert len(expected) == 100


@pytest.mark.listing("9.3")
def test_product_by_id(api: httpx.Client, database_url: str) -> None:
    response = api.get("/products/7")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(JSON)
    [row] = query(database_url, "SELECT product_id, product_name, brand_id FROM product WHERE product_id = 7")
    assert response.json() == row


@pytest.mark.listing("9.3")
@pytest.mark.parametrize("missing", ["999999", "0", "-1", "2147483647", "-2147483648", "007000"])
def test_missing_product_is_404(api: httpx.Client, missing: str) -> None:
    assert "exist" in assert_json_error(api.get(f"/products/{missing}"), 404)


@pytest.mark.listing("9.3")
@pytest.mark.parametrize(
    "bad_id",
    [
        "abc",
        "1.5",
        "1e3",
        "0x10",
        "+1",
        "%201",
        "1%20",
        "99999999999",
        "2147483648",
        "-2147483649",
        "%D9%A1",
        "1_000",
        "123456789012345678901234567890",
    ],
)
def test_bad_product_id_is_400(api: httpx.Client, bad_id: str) -> None:
    assert "product id" in assert_json_error(api.get(f"/products/{bad_id}"), 400)


@pytest.mark.listing("9.2")
def test_unknown_path_is_json_404(api: httpx.Client) -> None:
    assert_json_error(api.get("/no/such/path"), 404)


@pytest.mark.listing("9.2")
def test_wrong_method_is_json_405_with_allow(api: httpx.Client) -> None:
    response = api.delete("/brands")
    assert_json_error(response, 405)
    assert "GET" in response.headers["allow"]
    response = api.get("/product")
    assert_json_error(response, 405)
    assert "POST" in response.headers["allow"]


# --- health ------------------------------------------------------------------------------


@pytest.mark.parametrize(("path", "body"), [("/healthz", {"status": "ok"}), ("/readyz", {"status": "ready"})])
def test_health_endpoints_answer_json(api: httpx.Client, path: str, body: dict[str, str]) -> None:
    response = api.get(path)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(JSON)
    assert response.json() == body
    head = api.head(path)
    assert head.status_code == 200
    assert head.headers["content-type"].startswith(JSON)
    assert head.content == b""


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_health_endpoints_obey_the_error_rules(api: httpx.Client, path: str, method: str) -> None:
    response = api.request(method, path, json={})
    assert_json_error(response, 405)
    assert set(response.headers["allow"].split(",")) == {"GET", "HEAD"}
    assert_json_error(api.get(f"{path}/"), 404)  # no trailing-slash redirect, as for every path


# --- creating ----------------------------------------------------------------------------


def create(api: httpx.Client, body: object) -> httpx.Response:
    return api.post("/product", json=body)


@pytest.mark.listing("9.4")
def test_create_returns_201_location_and_product(api: httpx.Client) -> None:
    response = create(api, {"product_name": "contract test kettle", "brand_id": 3})
    assert response.status_code == 201, response.text
    assert response.headers["content-type"].startswith(JSON)
    product = response.json()
    assert set(product) == {"product_id", "product_name", "brand_id"}
    assert product["product_name"] == "contract test kettle" and product["brand_id"] == 3
    assert isinstance(product["product_id"], int) and product["product_id"] > 1000
    assert response.headers["location"] == f"/products/{product['product_id']}"
    assert api.get(response.headers["location"]).json() == product


@pytest.mark.listing("9.4")
@pytest.mark.parametrize(
    "name",
    [
        "Robert'); DROP TABLE product; --",
        "1 OR 1=1; SELECT * FROM brand",
        "$1 $2 %s %(name)s {0} \\x00-not-a-nul",
        "Café ☕ 数据 🚀 עברית",
        "ä" * MAX_NAME_LENGTH,
        "😀" * MAX_NAME_LENGTH,
        "  padded  ",
    ],
)
def test_names_are_stored_literally(api: httpx.Client, name: str) -> None:
    response = create(api, {"product_name": name, "brand_id": 1})
    assert response.status_code == 201, response.text
    assert response.json()["product_name"] == name
    assert api.get(response.headers["location"]).json()["product_name"] == name
    assert api.get("/brands").status_code == 200  # the table is still there


@pytest.mark.listing("9.4")
def test_concurrent_creates_all_land(api: httpx.Client) -> None:
    names = [f"concurrent product {i}" for i in range(20)]
    with ThreadPoolExecutor(max_workers=10) as pool:
        responses = list(pool.map(lambda n: create(api, {"product_name": n, "brand_id": 2}), names))
    assert all(r.status_code == 201 for r in responses)
    ids = {r.json()["product_id"] for r in responses}
    assert len(ids) == len(names)
    for response, name in zip(responses, names, strict=True):
        assert api.get(response.headers["location"]).json()["product_name"] == name


BAD_BODIES: list[tuple[str, object]] = [
    ("array", []),
    ("string", "product"),
    ("number", 42),
    ("null", None),
    ("empty object", {}),
    ("missing name", {"brand_id": 1}),
    ("missing brand", {"product_name": "x"}),
    ("brand as string", {"product_name": "x", "brand_id": "1"}),
    ("brand as float", {"product_name": "x", "brand_id": 1.5}),
    ("brand as whole float", {"product_name": "x", "brand_id": 1.0}),
    ("brand as bool", {"product_name": "x", "brand_id": True}),
    ("brand as null", {"product_name": "x", "brand_id": None}),
    ("brand as list", {"product_name": "x", "brand_id": [1]}),
    ("name as number", {"product_name": 5, "brand_id": 1}),
    ("name as null", {"product_name": None, "brand_id": 1}),
    ("name as object", {"product_name": {"a": 1}, "brand_id": 1}),
    ("empty name", {"product_name": "", "brand_id": 1}),
    ("blank name", {"product_name": " \t\n ", "brand_id": 1}),
    ("zero-width name", {"product_name": "\u200b\u200c\u200d\u2060\ufeff", "brand_id": 1}),
    ("invisible name", {"product_name": "\u200b \u00a0\u3000\u180e\u2062\u3164\U000e0041", "brand_id": 1}),
    ("overlong name", {"product_name": "x" * (MAX_NAME_LENGTH + 1), "brand_id": 1}),
    ("NUL in name", {"product_name": "a\x00b", "brand_id": 1}),
    ("unknown brand", {"product_name": "x", "brand_id": 999999}),
    ("brand zero", {"product_name": "x", "brand_id": 0}),
    ("negative brand", {"product_name": "x", "brand_id": -5}),
    ("brand over INTEGER", {"product_name": "x", "brand_id": 99999999999}),
    ("huge brand", {"product_name": "x", "brand_id": 10**40}),
    ("unknown field", {"product_name": "x", "brand_id": 1, "price": 9}),
]


@pytest.mark.listing("9.4")
@pytest.mark.parametrize("body", [b for _, b in BAD_BODIES], ids=[label for label, _ in BAD_BODIES])
def test_bad_bodies_are_400_and_store_nothing(api: httpx.Client, database_url: str, body: object) -> None:
    before = product_count(database_url)
    assert_json_error(create(api, body), 400)
    assert product_count(database_url) == before


RAW_BAD_BODIES: list[tuple[str, bytes]] = [
    ("no body", b""),
    ("whitespace", b"  \n"),
    ("invalid JSON", b'{"product_name": "x", "brand_id": 1'),
    ("trailing garbage", b'{"product_name": "x", "brand_id": 1} x'),
    ("single quotes", b"{'product_name': 'x', 'brand_id': 1}"),
    ("invalid UTF-8", b'{"product_name": "\xff\xfe", "brand_id": 1}'),
    ("lone surrogate", b'{"product_name": "\\ud800", "brand_id": 1}'),
    ("deep nesting", b"[" * 100_000 + b"]" * 100_000),
    ("deep object nesting", b'{"a": ' * 100_000 + b"1" + b"}" * 100_000),
    ("5000-digit brand", b'{"product_name": "x", "brand_id": 1' + b"0" * 5000 + b"}"),
    ("5000-digit negative brand", b'{"product_name": "x", "brand_id": -1' + b"0" * 5000 + b"}"),
    ("5000-digit name field", b'{"product_name": 9' + b"9" * 5000 + b', "brand_id": 1}'),
    ("huge float brand", b'{"product_name": "x", "brand_id": 1e999999}'),
    ("5000-digit float brand", b'{"product_name": "x", "brand_id": 1.' + b"0" * 5000 + b"1}"),
    ("NaN brand", b'{"product_name": "x", "brand_id": NaN}'),
]


@pytest.mark.listing("9.4")
@pytest.mark.parametrize("raw", [b for _, b in RAW_BAD_BODIES], ids=[label for label, _ in RAW_BAD_BODIES])
def test_malformed_bodies_are_400(api: httpx.Client, database_url: str, raw: bytes) -> None:
    before = product_count(database_url)
    assert_json_error(api.post("/product", content=raw, headers={"Content-Type": JSON}), 400)
    assert product_count(database_url) == before


@pytest.mark.listing("9.4")
def test_missing_content_type_is_taken_as_json(api: httpx.Client) -> None:
    response = api.post("/product", content=json.dumps({"product_name": "no header", "brand_id": 4}))
    assert response.status_code == 201, response.text


@pytest.mark.listing("9.4")
def test_json_with_charset_is_accepted(api: httpx.Client) -> None:
    body = json.dumps({"product_name": "with charset", "brand_id": 4})
    response = api.post("/product", content=body, headers={"Content-Type": "application/json; charset=utf-8"})
    assert response.status_code == 201, response.text


@pytest.mark.listing("9.4")
@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"])
def test_other_content_types_are_415(api: httpx.Client, content_type: str) -> None:
    body = json.dumps({"product_name": "x", "brand_id": 1})
    response = api.post("/product", content=body, headers={"Content-Type": content_type})
    assert "application/json" in assert_json_error(response, 415)


@pytest.mark.listing("9.4")
def test_body_over_the_limit_is_413(api: httpx.Client, database_url: str) -> None:
    before = product_count(database_url)
    body = json.dumps({"product_name": "x" * MAX_BODY_BYTES, "brand_id": 1})
    assert_json_error(api.post("/product", content=body, headers={"Content-Type": JSON}), 413)
    assert product_count(database_url) == before
    # The server is still healthy afterwards.
    assert api.get("/brands").status_code == 200


@pytest.mark.listing("9.4")
@pytest.mark.parametrize("sign", ["", "-"])
def test_a_long_integer_is_one_400_message_everywhere(api: httpx.Client, sign: str) -> None:
    # Python refuses to convert more than 4300 digits (ValueError inside json.loads):
    # the shared rules refuse past MAX_INTEGER_DIGITS first, with one message.
    body = f'{{"product_name": "x", "brand_id": {sign}1{"0" * 5000}}}'
    error = assert_json_error(api.post("/product", content=body, headers={"Content-Type": JSON}), 400)
    assert error == f"request body has an integer of more than {MAX_INTEGER_DIGITS} digits"
    at_the_bound = f'{{"product_name": "x", "brand_id": {sign}1{"0" * (MAX_INTEGER_DIGITS - 1)}}}'
    error = assert_json_error(api.post("/product", content=at_the_bound, headers={"Content-Type": JSON}), 400)
    assert error.startswith("brand ") and error.endswith(" does not exist")


@pytest.mark.listing("9.4")
@pytest.mark.parametrize("name", ["\u200b", "\ufeff\u2060", " \u200d "], ids=["ZWSP", "BOM+WJ", "ZWJ+spaces"])
def test_invisible_names_are_blank(api: httpx.Client, name: str) -> None:
    error = assert_json_error(create(api, {"product_name": name, "brand_id": 1}), 400)
    assert "blank" in error


@pytest.mark.listing("9.4")
def test_names_with_an_invisible_character_and_a_visible_one_are_kept(api: httpx.Client) -> None:
    name = "tea\u200bpot \u2060\ufeff"
    response = create(api, {"product_name": name, "brand_id": 1})
    assert response.status_code == 201, response.text
    assert api.get(response.headers["location"]).json()["product_name"] == name


# Names that would show something else than what they hold: a terminal colour, a line that fakes a
# log entry, text turned around by a bidirectional override ("gnp.exe" shows as "exe.png").
HOSTILE_NAMES: list[tuple[str, str, str]] = [
    ("ANSI colour", "\x1b[31mred\x1b[0m kettle", "control character (U+001B)"),
    ("fake log line", "kettle\r\n2026-12-05 INFO admin logged in", "control character (U+000D)"),
    ("line feed", "kettle\nmug", "control character (U+000A)"),
    ("tab", "tea\tpot", "control character (U+0009)"),
    ("DEL", "tea\x7fpot", "control character (U+007F)"),
    ("C1 control", "tea\x85pot", "control character (U+0085)"),
    ("right-to-left override", "holiday\u202egnp.exe", "bidirectional control (U+202E)"),
    ("isolate", "tea\u2067pot\u2069", "bidirectional control (U+2067)"),
    ("right-to-left mark", "tea\u200fpot", "bidirectional control (U+200F)"),
    ("Arabic letter mark", "tea\u061cpot", "bidirectional control (U+061C)"),
]


@pytest.mark.parametrize(
    ("name", "rule"), [(n, r) for _, n, r in HOSTILE_NAMES], ids=[label for label, _, _ in HOSTILE_NAMES]
)
def test_names_with_controls_are_400_naming_the_rule(
    api: httpx.Client, database_url: str, name: str, rule: str
) -> None:
    before = product_count(database_url)
    error = assert_json_error(create(api, {"product_name": name, "brand_id": 1}), 400)
    assert error == f"product_name must not contain a {rule}"
    assert product_count(database_url) == before


def test_names_are_stored_in_nfc(api: httpx.Client, database_url: str) -> None:
    """ "é" as one code point (NFC) or as "e" and a combining accent (NFD) is one name, stored once spelled."""
    nfd, nfc = "Cafe\u0301 cre\u0300me nfd", "Caf\u00e9 cr\u00e8me nfd"
    responses = [create(api, {"product_name": spelling, "brand_id": 1}) for spelling in (nfd, nfc)]
    assert [r.status_code for r in responses] == [201, 201], [r.text for r in responses]
    assert [r.json()["product_name"] for r in responses] == [nfc, nfc]
    ids = [r.json()["product_id"] for r in responses]
    stored = query(database_url, f"SELECT product_name FROM product WHERE product_id IN ({ids[0]}, {ids[1]})")
    assert [row["product_name"] for row in stored] == [nfc, nfc]


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        (b'{"product_name": "twice", "brand_id": 1, "brand_id": 2}', "brand_id"),
        (b'{"product_name": "a", "product_name": "b", "brand_id": 1}', "product_name"),
        (b'{"product_name": "x", "brand_id": 1, "extra": {"k": 1, "k": 1}}', "k"),
    ],
    ids=["brand_id", "product_name", "nested"],
)
def test_a_key_sent_twice_is_400(api: httpx.Client, database_url: str, raw: bytes, key: str) -> None:
    """A body with a key twice means one thing to one parser and another to the next: refused, not last-one-wins."""
    before = product_count(database_url)
    error = assert_json_error(api.post("/product", content=raw, headers={"Content-Type": JSON}), 400)
    assert error == f"request body has the key {key!r} more than once"
    assert product_count(database_url) == before


# --- chunked bodies ----------------------------------------------------------------------

VALID_BODY = b'{"product_name": "chunked", "brand_id": 1}'


def chunked(body: bytes, size: int = 65536) -> Iterator[bytes]:
    """A generator: the client sends it with Transfer-Encoding: chunked and no Content-Length."""
    for start in range(0, len(body), size):
        yield body[start : start + size]


@pytest.mark.listing("9.4")
@pytest.mark.parametrize(
    "body",
    [
        # Valid JSON, then spaces (JSON whitespace) to the limit, then garbage: a
        # server that stops reading at the limit and parses what it has accepts it.
        VALID_BODY + b" " * (MAX_BODY_BYTES - len(VALID_BODY)) + b"x",
        VALID_BODY + b" " * (MAX_BODY_BYTES + 100_000) + b"garbage",
    ],
    ids=["one byte over", "100 kB over"],
)
def test_chunked_body_over_the_limit_is_413(api: httpx.Client, database_url: str, body: bytes) -> None:
    before = product_count(database_url)
    response = api.post("/product", content=chunked(body), headers={"Content-Type": JSON})
    assert assert_json_error(response, 413) == f"request body is larger than {MAX_BODY_BYTES} bytes"
    assert product_count(database_url) == before
    assert api.get("/brands").status_code == 200


@pytest.mark.listing("9.4")
@pytest.mark.parametrize("size", [len(VALID_BODY), 500_000, MAX_BODY_BYTES], ids=["small", "500 kB", "at the limit"])
def test_chunked_body_within_the_limit_is_accepted(api: httpx.Client, size: int) -> None:
    body = VALID_BODY + b" " * (size - len(VALID_BODY))
    response = api.post("/product", content=chunked(body), headers={"Content-Type": JSON})
    assert response.status_code == 201, response.text
    assert response.json()["product_name"] == "chunked"


# --- header limits -----------------------------------------------------------------------


def post_with_headers(api: httpx.Client, headers: bytes) -> tuple[bytes, bytes]:
    body = json.dumps({"product_name": "many headers", "brand_id": 1}).encode()
    port = api.base_url.port
    assert port is not None
    return raw_request(
        port,
        b"POST /product HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        + b"Content-Length: %d\r\nConnection: close\r\n" % len(body)
        + headers
        + b"\r\n"
        + body,
    )


HEADER_ATTACKS = {
    "1000 headers": b"".join(b"X-Header-%d: v\r\n" % i for i in range(1000)),
    "a 64 KB header": b"X-Big: " + b"a" * 65536 + b"\r\n",
}


@pytest.mark.listing("9.4")
@pytest.mark.parametrize("headers", HEADER_ATTACKS.values(), ids=HEADER_ATTACKS.keys())
def test_oversize_headers_are_refused_and_never_processed(api: httpx.Client, database_url: str, headers: bytes) -> None:
    # Every server bounds the header section and answers 431: gunicorn (Flask) itself, aiohttp
    # from aiohttp_api/malformed_requests.py, the ASGI apps from a middleware of their own.
    before = product_count(database_url)
    status, body = post_with_headers(api, headers)
    assert status.split(b" ")[1] == b"431", status + body[:300]
    assert product_count(database_url) == before
    assert api.get("/brands").status_code == 200


@pytest.mark.listing("9.4")
def test_headers_within_the_bounds_are_served(api: httpx.Client) -> None:
    # Host, Content-Type, Content-Length, Connection and these: 100 fields, one of 8000 bytes.
    headers = b"".join(b"X-Header-%d: v\r\n" % i for i in range(MAX_REQUEST_HEADERS - 5))
    headers += b"X-Big: " + b"a" * (MAX_HEADER_BYTES - 200) + b"\r\n"
    status, body = post_with_headers(api, headers)
    assert status.startswith(b"HTTP/1.1 201"), status + body[:300]
