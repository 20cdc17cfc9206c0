"""Errors that end a request with a gRPC status: the code and a message for the client."""

from __future__ import annotations

import grpc

# Messages quote request fields (names, shapes); cap them so a huge field cannot make a huge reply.
MAX_MESSAGE_CHARS = 1000


class ServingError(Exception):
    """A request failed with ``code``; ``message`` names the tensor/model and what was expected."""

    def __init__(self, code: grpc.StatusCode, message: str):
        if len(message) > MAX_MESSAGE_CHARS:
            message = f"{message[:MAX_MESSAGE_CHARS]}... ({len(message) - MAX_MESSAGE_CHARS} more characters)"
        super().__init__(message)
        self.code = code
        self.message = message


def invalid(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.INVALID_ARGUMENT, message)


def not_found(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.NOT_FOUND, message)


def unavailable(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.UNAVAILABLE, message)


def exhausted(message: str) -> ServingError:
    return ServingError(grpc.StatusCode.RESOURCE_EXHAUSTED, message)
