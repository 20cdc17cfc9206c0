"""HTTP status codes of the error kinds; every non-2xx answer is ``{"error": "<message>"}``."""

from __future__ import annotations

import json

from convzoo.base.errors import Kind

HTTP_STATUS = {
    Kind.INVALID: 400,
    Kind.FAILED_PRECONDITION: 400,
    Kind.UNAUTHENTICATED: 401,
    Kind.NOT_FOUND: 404,
    Kind.ALREADY_EXISTS: 409,
    Kind.EXHAUSTED: 429,  # a full queue: retry later
    Kind.CANCELLED: 499,  # the client went away (nginx's code; nobody reads it)
    Kind.INTERNAL: 500,
    Kind.UNIMPLEMENTED: 501,
    Kind.UNAVAILABLE: 503,
}
TOO_LARGE = 413
NO_ROUTE = 404
WRONG_METHOD = 405


def error_body(message: str) -> bytes:
    return json.dumps({"error": message}).encode()
