"""Bearer-token authentication for the gRPC server (``convzoo serve --auth-token-file``).

Every call must carry ``authorization: Bearer <token>`` metadata; others end UNAUTHENTICATED
before their handler runs. The comparison is constant-time (``hmac.compare_digest``).
Health checks (``grpc.health.v1``) pass without a token, so probes need no secret.
"""

from __future__ import annotations

import hmac

import grpc

HEALTH_PREFIX = "/grpc.health.v1.Health/"
REFUSAL = "missing or wrong bearer token: send metadata 'authorization: Bearer <token>'"
_HANDLERS = {
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def same_kind(handler: grpc.RpcMethodHandler, behavior, request_deserializer) -> grpc.RpcMethodHandler:
    """A handler of ``handler``'s kind (unary/stream each way) running ``behavior``."""
    factory = _HANDLERS[handler.request_streaming, handler.response_streaming]
    return factory(behavior, request_deserializer=request_deserializer, response_serializer=handler.response_serializer)


def _refuse(request_or_iterator, context):
    context.abort(grpc.StatusCode.UNAUTHENTICATED, REFUSAL)


class BearerTokenInterceptor(grpc.ServerInterceptor):
    """Lets a call through only with the expected ``authorization`` metadata."""

    def __init__(self, token: str):
        self._expected = f"Bearer {token}".encode()

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None or handler_call_details.method.startswith(HEALTH_PREFIX):
            return handler
        supplied = next((v for k, v in handler_call_details.invocation_metadata or () if k == "authorization"), "")
        if hmac.compare_digest(str(supplied).encode(), self._expected):
            return handler
        return same_kind(handler, _refuse, handler.request_deserializer)
