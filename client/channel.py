"""Client channels to a server or a fleet of replicas: plain or TLS, with an optional bearer token.

A token travels as ``authorization: Bearer <token>`` call credentials, which gRPC sends only
over TLS or to a server on this machine (local TCP), never in clear over a network.
Commands share the flags: ``--tls``, ``--tls-ca FILE``, ``--auth-token-file FILE``.
A ``url`` listing several endpoints (or a ``dns:///`` name) opens a fleet channel: see ``fleet``.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc

from convzoo.base.codec import DEFAULT_MAX_MESSAGE_BYTES
from convzoo.base.tokens import read_token
from convzoo.client import fleet


@dataclass(frozen=True)
class Security:
    """TLS (``ca``: PEM roots to trust; None: the system's) and a bearer token."""

    tls: bool = False
    ca: bytes | None = None
    token: str | None = None

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> Security:
        ca = args.tls_ca.read_bytes() if args.tls_ca else None
        token = read_token(args.auth_token_file) if args.auth_token_file else None
        return cls(tls=args.tls or ca is not None, ca=ca, token=token)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--tls", action="store_true", help="connect over TLS, trusting the system's certificate authorities"
    )
    parser.add_argument(
        "--tls-ca", type=Path, metavar="PEM", help="connect over TLS, trusting this certificate (implies --tls)"
    )
    parser.add_argument("--auth-token-file", type=Path, metavar="FILE", help="send the bearer token in FILE")


def open_channel(url: str, security: Security = Security(), options: Sequence[tuple] = ()) -> grpc.Channel:
    """A channel to ``url`` (``host:port``, or a fleet: ``host:port,host:port``, ``dns:///name:port``)
    secured as ``security`` says."""
    target = fleet.parse(url)
    buffer = dict(options).get("grpc.max_send_message_length", DEFAULT_MAX_MESSAGE_BYTES)
    options = [*options, *fleet.channel_options(target, buffer)]
    url = target.uri
    if not security.tls and not security.token:
        return grpc.insecure_channel(url, options=options)
    transport = (
        grpc.ssl_channel_credentials(root_certificates=security.ca)
        if security.tls
        else grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    )
    if security.token:
        transport = grpc.composite_channel_credentials(transport, grpc.access_token_call_credentials(security.token))
    return grpc.secure_channel(url, transport, options=options)
