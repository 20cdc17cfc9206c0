"""Several servers behind one ``--server``: gRPC's own round_robin balancing, with retries.

``--server`` names one of:

- ``HOST:PORT``: one server (a plain channel, as always);
- ``HOST1:PORT,HOST2:PORT,...``: a fleet of replicas. Host names are resolved once, here,
  and the addresses handed to gRPC as an ``ipv4:``/``ipv6:`` target;
- ``dns:///NAME:PORT``: a fleet behind one DNS name with several addresses (a Kubernetes
  headless Service, say), which gRPC resolves and re-resolves itself.

A fleet's channel spreads calls over every ready replica with ``round_robin`` and retries a
call that failed UNAVAILABLE (the replica died, the connection was reset, no replica was
reachable yet) on the next one, up to five attempts, with backoff. There is no balancer of
our own: both are gRPC service-config settings. Retrying is safe because every retried
method is idempotent: inference reads the model and changes nothing, health, metadata and
statistics are reads, a load or unload asked twice ends in the same state, and a server-side
evaluation is retried only before its first response. gRPC replays a call only while it
holds the whole request, so a fleet channel buffers up to the message size limit per call.
"""

from __future__ import annotations

import ipaddress
import json
import socket
from dataclasses import dataclass

RETRIED_SERVICES = ("inference.GRPCInferenceService", "convzoo.evaluation.Evaluation")
MAX_ATTEMPTS = 5  # gRPC's own ceiling

SERVICE_CONFIG = {
    "loadBalancingConfig": [{"round_robin": {}}],
    "methodConfig": [
        {
            "name": [{"service": service} for service in RETRIED_SERVICES],
            "retryPolicy": {
                "maxAttempts": MAX_ATTEMPTS,
                "initialBackoff": "0.1s",
                "maxBackoff": "1s",
                "backoffMultiplier": 2,
                "retryableStatusCodes": ["UNAVAILABLE"],
            },
        }
    ],
}


@dataclass(frozen=True)
class Target:
    """What a channel dials: ``uri`` for gRPC; ``fleet``: balance and retry; ``authority``: the
    name TLS checks (the first endpoint of a list)."""

    uri: str
    fleet: bool = False
    authority: str | None = None


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """``HOST:PORT`` or ``[IPV6]:PORT`` -> (host, port)."""
    host, sep, port = endpoint.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"--server: expected HOST:PORT, got {endpoint!r}")
    return host.removeprefix("[").removesuffix("]"), int(port)


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses of ``host`` (a literal, or a name resolved now)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as error:
        raise ValueError(f"--server: cannot resolve {host!r}: {error.strerror}") from None
    return list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in found))


def _listed_target(endpoints: list[str]) -> Target:
    """An ``ipv4:``/``ipv6:`` target over every address of every endpoint."""
    resolved = [(split_endpoint(e), e) for e in endpoints]
    families = [
        {4: [a for a in addresses if a.version == 4], 6: [a for a in addresses if a.version == 6]}
        for addresses in (_addresses(host, port) for (host, port), _ in resolved)
    ]
    for version, scheme, form in ((4, "ipv4", "{}:{}"), (6, "ipv6", "[{}]:{}")):
        if all(family[version] for family in families):
            listed = [
                form.format(address, port)
                for family, ((_, port), _) in zip(families, resolved)
                for address in family[version]
            ]
            return Target(f"{scheme}:{','.join(dict.fromkeys(listed))}", fleet=True, authority=endpoints[0])
    raise ValueError("--server: the endpoints share no address family (mix of IPv4-only and IPv6-only hosts)")


def parse(server: str) -> Target:
    """The channel target ``--server`` names (see the module docstring)."""
    server = server.strip()
    if server.startswith(("dns:", "ipv4:", "ipv6:")):
        return Target(server, fleet=True)
    endpoints = [part.strip() for part in server.split(",")]
    if len(endpoints) == 1:
        return Target(server)
    if not all(endpoints):
        raise ValueError(f"--server: empty endpoint in {server!r}")
    return _listed_target(endpoints)


def channel_options(target: Target, max_message_bytes: int) -> list[tuple[str, object]]:
    """Channel arguments a fleet needs (none for one server)."""
    if not target.fleet:
        return []
    options = [
        ("grpc.service_config", json.dumps(SERVICE_CONFIG)),
        ("grpc.enable_retries", 1),
        ("grpc.per_rpc_retry_buffer_size", max_message_bytes),
    ]
    if target.authority:
        options.append(("grpc.default_authority", target.authority))
    return options
