"""Finding plugins: entry points in group ``convzoo.plugins``, and the ``--plugins`` spec.

``--plugins top1,top5,per_class`` names plugins; ``topN`` is an alias for the ``topk``
plugin with ``k=N`` (several ``topN`` share one ``topk``), plain ``topk`` means top-1 and top-5.
A plugin is known everywhere by its entry-point name (``--plugins``, checkpoints, reports),
whatever its class's ``name`` says.
"""

from __future__ import annotations

import re
from importlib.metadata import EntryPoint, entry_points

from convzoo.plugins.api import Metric

GROUP = "convzoo.plugins"
DEFAULT_SPEC = "top1,top5,latency"
_TOP_ALIAS = re.compile(r"top(\d+)")


def installed() -> dict[str, EntryPoint]:
    """Every installed plugin by name."""
    return {entry.name: entry for entry in entry_points(group=GROUP)}


def describe() -> list[dict]:
    """Name, providing distribution and one-line description of each installed plugin."""
    rows = []
    for name, entry in sorted(installed().items()):
        plugin = entry.load()
        doc = (plugin.__doc__ or "").strip().splitlines()
        dist = entry.dist
        rows.append(
            {
                "name": name,
                "distribution": f"{dist.name} {dist.version}" if dist else "",
                "description": doc[0] if doc else "",
            }
        )
    return rows


def load(name: str) -> type[Metric]:
    """The plugin class registered as ``name``."""
    entries = installed()
    if name not in entries:
        raise LookupError(f"unknown plugin {name!r}; installed: {', '.join(sorted(entries))}")
    plugin = entries[name].load()
    if not (isinstance(plugin, type) and issubclass(plugin, Metric)):
        raise TypeError(f"plugin {name!r} ({entries[name].value}) is not a convzoo Metric")
    return plugin


def create(name: str, **options) -> Metric:
    """An instance of the plugin registered as ``name``, remembering that name."""
    plugin = load(name)(**options)
    plugin.entry_point = name
    return plugin


def entry_name(plugin: Metric) -> str:
    """The entry-point name ``plugin`` was created under, else the one its class is registered as."""
    if plugin.entry_point:
        return plugin.entry_point
    names = [name for name, entry in installed().items() if entry.load() is type(plugin)]
    if len(names) != 1:
        raise LookupError(f"{type(plugin).__name__} is registered under {names or 'no'} convzoo.plugins entry point")
    return names[0]


def from_spec(spec: str) -> list[Metric]:
    """Instantiate the plugins a comma-separated ``--plugins`` value names, in order."""
    names = [part.strip() for part in spec.split(",") if part.strip()]
    if not names:
        raise ValueError("no plugins named")
    ks = sorted({int(m.group(1)) for n in names if (m := _TOP_ALIAS.fullmatch(n))})
    plugins: list[Metric] = []
    seen: set[str] = set()
    for name in names:
        base = "topk" if _TOP_ALIAS.fullmatch(name) else name
        if base in seen:
            continue
        seen.add(base)
        plugins.append(create(base, ks=ks) if base == "topk" and ks else create(base))
    return plugins


def restore(entries: list[dict]) -> list[Metric]:
    """Plugins rebuilt from ``[{"name", "options", "state"}]`` (a checkpoint or a shard)."""
    plugins = []
    for entry in entries:
        plugin = create(entry["name"], **entry["options"])
        plugin.load_state_dict(entry["state"])
        plugins.append(plugin)
    return plugins


def identify(plugins: list[Metric]) -> list[dict]:
    """Each plugin's entry-point name and options: what recreates it."""
    return [{"name": entry_name(p), "options": p.options()} for p in plugins]


def snapshot(plugins: list[Metric]) -> list[dict]:
    """The JSON form ``restore`` reads back."""
    return [{**ident, "state": p.state_dict()} for ident, p in zip(identify(plugins), plugins)]
