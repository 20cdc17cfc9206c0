"""TLS for the gRPC server: a PEM certificate chain and its private key, checked at start."""

from __future__ import annotations

import ssl
from pathlib import Path

import grpc


def server_credentials(cert: Path, key: Path) -> grpc.ServerCredentials:
    """gRPC credentials for ``--tls-cert``/``--tls-key``; ValueError naming the files if they
    are not a certificate chain and its key (gRPC alone would only fail to bind)."""
    try:
        ssl.create_default_context(ssl.Purpose.CLIENT_AUTH).load_cert_chain(cert, key)
    except ssl.SSLError:
        raise ValueError(f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate chain and its key") from None
    except OSError as exc:
        raise OSError(f"cannot read --tls-cert {cert} or --tls-key {key}: {exc.strerror}") from None
    return grpc.ssl_server_credentials([(key.read_bytes(), cert.read_bytes())])
