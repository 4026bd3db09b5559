"""Schemathesis hooks for the generated-request pass: the rejections of schema-valid data the API may make."""

from __future__ import annotations

import unicodedata

import schemathesis

from products_db.rules import BLANK_NAME, MAX_NAME_LENGTH, is_blank


@schemathesis.check
def unknown_brand_is_the_only_rejection(ctx, response, case) -> bool | None:
    """A schema-valid POST /product may get 400 only because its brand does not exist.

    (Or its name is invisible, or longer than the bound once normalised to NFC.)

    The document cannot say "brand_id must be a row of the brand table", so
    schemathesis.toml lets positive_data_acceptance accept a 400 there; this
    check makes sure that 400 is exactly the unknown-brand answer and nothing else.
    """
    meta = case.meta
    if case.operation.label != "POST /product" or response.status_code != 400 or meta is None:
        return None
    if not meta.generation.mode.is_positive:
        return None
    body = case.body
    if not isinstance(body, dict):
        raise AssertionError(f"schema-valid body {body!r} is not an object")
    brand_id = body["brand_id"]
    name = body.get("product_name")
    if isinstance(name, str) and len(unicodedata.normalize("NFC", name)) > MAX_NAME_LENGTH:
        # A few characters grow under NFC (U+0958 becomes two): the length is counted there.
        expected = f"product_name must be at most {MAX_NAME_LENGTH} characters"
    elif isinstance(name, str) and is_blank(name):
        # The document's pattern names the invisible characters of the BMP only; a name
        # of those past it (tag characters U+E0000.., variation selectors) is blank too.
        expected = BLANK_NAME
    elif isinstance(brand_id, float):
        # JSON Schema counts 1.0 as an integer and cannot tell it from 1; the
        # API refuses it like any non-integer (documented in openapi.yaml).
        expected = "brand_id must be an integer"
    else:
        expected = f"brand {brand_id} does not exist"
    actual = response.json().get("error")
    if actual != expected:
        raise AssertionError(f"schema-valid body {body!r} rejected with {actual!r}, expected {expected!r}")
    return True
