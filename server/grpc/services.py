"""Extra gRPC services served next to the inference service.

The hook for other rooms (e.g. an ``Evaluation`` service with its own proto): an entry point
in the group ``convzoo.services`` names an object (a module works) with

* ``add_arguments(parser)`` (optional): add ``convzoo serve`` flags, e.g. ``--dataset``;
* ``create(args, dataplane) -> ExtraService``: build the service from the parsed flags and the
  server's one ``DataPlane`` (``server/dataplane.py``: look up loaded models with
  ``dataplane.served(name, version)``, infer as every transport does).

``server/grpc/server.py`` adds each service with its ``add_to_server`` callback (the generated
``add_<Service>Servicer_to_server`` bound to a servicer) and lists ``name`` for reflection.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from importlib.metadata import entry_points

import grpc

GROUP = "convzoo.services"


@dataclass(frozen=True)
class ExtraService:
    """``name``: the full service name (``package.Service``); ``add_to_server(server)`` registers it."""

    name: str
    add_to_server: Callable[[grpc.Server], None]


def plugins() -> list:
    """The installed service plugins, sorted by entry-point name."""
    return [entry.load() for entry in sorted(entry_points(group=GROUP), key=lambda e: e.name)]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Let each service plugin add its ``serve`` flags."""
    for plugin in plugins():
        if hasattr(plugin, "add_arguments"):
            plugin.add_arguments(parser)


def create(args: argparse.Namespace, dataplane) -> list[ExtraService]:
    """Build every plugin's service over the server's data plane."""
    return [plugin.create(args, dataplane) for plugin in plugins()]
