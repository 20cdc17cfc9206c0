"""Extra gRPC services served next to the inference service.

The hook for other rooms (e.g. an ``Evaluation`` service with its own proto): an entry point
in the group ``convzoo.services`` names an object (a module works) with

* ``add_arguments(parser)`` (optional): add ``convzoo serve`` flags, e.g. ``--dataset``;
* ``create(args, manager) -> ExtraService``: build the service from the parsed flags and the
  ``ModelManager`` (to look up loaded models with ``manager.get(name, version)``).

``build_server`` adds each service with its ``add_to_server`` callback (the generated
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


def create(args: argparse.Namespace, manager) -> list[ExtraService]:
    """Build every plugin's service."""
    return [plugin.create(args, manager) for plugin in plugins()]
