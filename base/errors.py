"""Errors that end a request: a transport-free kind and a message for the client.

The kind says what went wrong; each transport maps it to its own code (gRPC status codes in
``GRPC_STATUS``; HTTP status codes in ``server/http/errors.py``). docs/errors.md lists both.
"""

from __future__ import annotations

import enum

import grpc

# Messages quote request fields (names, shapes); cap them so a huge field cannot make a huge reply.
MAX_MESSAGE_CHARS = 1000


class Kind(enum.Enum):
    INVALID = "invalid"  # the request does not fit the model or the protocol
    NOT_FOUND = "not found"  # no such model or version
    ALREADY_EXISTS = "already exists"  # a name that is already taken (a shared memory region)
    UNAVAILABLE = "unavailable"  # known but not ready, unloading, or the server is draining
    EXHAUSTED = "exhausted"  # a queue or a size limit is full
    CANCELLED = "cancelled"  # the client went away or cancelled
    FAILED_PRECONDITION = "failed precondition"  # the server cannot do it in its current state (data gone)
    UNAUTHENTICATED = "unauthenticated"
    UNIMPLEMENTED = "unimplemented"
    INTERNAL = "internal"  # a run failed inside ONNX Runtime


GRPC_STATUS = {
    Kind.INVALID: grpc.StatusCode.INVALID_ARGUMENT,
    Kind.NOT_FOUND: grpc.StatusCode.NOT_FOUND,
    Kind.ALREADY_EXISTS: grpc.StatusCode.ALREADY_EXISTS,
    Kind.UNAVAILABLE: grpc.StatusCode.UNAVAILABLE,
    Kind.EXHAUSTED: grpc.StatusCode.RESOURCE_EXHAUSTED,
    Kind.CANCELLED: grpc.StatusCode.CANCELLED,
    Kind.FAILED_PRECONDITION: grpc.StatusCode.FAILED_PRECONDITION,
    Kind.UNAUTHENTICATED: grpc.StatusCode.UNAUTHENTICATED,
    Kind.UNIMPLEMENTED: grpc.StatusCode.UNIMPLEMENTED,
    Kind.INTERNAL: grpc.StatusCode.INTERNAL,
}


class ServingError(Exception):
    """A request failed as ``kind``; ``message`` names the tensor/model and what was expected."""

    def __init__(self, kind: Kind, message: str):
        if len(message) > MAX_MESSAGE_CHARS:
            message = f"{message[:MAX_MESSAGE_CHARS]}... ({len(message) - MAX_MESSAGE_CHARS} more characters)"
        super().__init__(message)
        self.kind = kind
        self.message = message

    @property
    def code(self) -> grpc.StatusCode:
        """The gRPC status of this error."""
        return GRPC_STATUS[self.kind]


def invalid(message: str) -> ServingError:
    return ServingError(Kind.INVALID, message)


def not_found(message: str) -> ServingError:
    return ServingError(Kind.NOT_FOUND, message)


def already_exists(message: str) -> ServingError:
    return ServingError(Kind.ALREADY_EXISTS, message)


def unavailable(message: str) -> ServingError:
    return ServingError(Kind.UNAVAILABLE, message)


def exhausted(message: str) -> ServingError:
    return ServingError(Kind.EXHAUSTED, message)
