"""Requests whose bytes do not parse end INVALID_ARGUMENT in convzoo, not inside gRPC.

gRPC Python answers a message its deserializer cannot parse with INTERNAL ("Exception
deserializing request!") and, in grpcio 1.85, keeps about 25 KB of that call's state for good:
the fuzzing test saw the server grow 77 MB over 4,800 mangled requests. So every method's
deserializer is wrapped to never raise, and the method refuses what it could not parse.
"""

from __future__ import annotations

import grpc

from convzoo.server.grpc.auth import same_kind


class Undecodable:
    """What a wrapped deserializer returns for bytes it cannot parse."""

    def __init__(self, reason: str):
        self.reason = reason


def _never_raising(deserialize):
    def parse(data: bytes):
        try:
            return deserialize(data)
        except Exception as exc:  # whatever the parser raises, the bytes are the client's fault
            return Undecodable(f"{type(exc).__name__}: {exc}")

    return parse


class DecodingInterceptor(grpc.ServerInterceptor):
    """Refuses messages that do not parse with INVALID_ARGUMENT, naming the method."""

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler.request_deserializer is None:
            return handler
        prefix = f"the request to {handler_call_details.method} is not a valid protobuf message"
        behavior = getattr(
            handler,
            ("stream" if handler.request_streaming else "unary")
            + "_"
            + ("stream" if handler.response_streaming else "unary"),
        )

        def check(request, context):
            if isinstance(request, Undecodable):
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{prefix}: {request.reason}")
            return request

        if handler.request_streaming:

            def checked(requests, context):
                return behavior((check(request, context) for request in requests), context)
        else:

            def checked(request, context):
                return behavior(check(request, context), context)

        return same_kind(handler, checked, _never_raising(handler.request_deserializer))
