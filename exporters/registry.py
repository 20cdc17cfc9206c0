"""The architecture registry.

A family module (``alexnet.py``, ``vgg.py``, ``resnet.py``, or a third-party one) writes each
architecture once, as a plain builder ``def resnet50(*, num_classes=1000, activation="relu")``
returning an ``nn.Module``, and decorates it with :func:`register_model`; ``convzoo summary``
reads the module itself. Families are discovered through the entry-point group
``convzoo.architectures``: an entry point names a module, and importing it registers its
architectures. The built-in families are entry points too, so a third-party package adds
architectures exactly as the core does.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from importlib.metadata import entry_points

from convzoo.exporters.activations import DEFAULT_ACTIVATION, Activation

ENTRY_POINT_GROUP = "convzoo.architectures"


@dataclass(frozen=True)
class PretrainedWeights:
    """An official checkpoint: where it lives and what it is published to reach."""

    url: str
    acc1: float
    acc5: float
    resize_size: int = 256

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Architecture:
    """A registered network: its builder and its official weights."""

    name: str
    builder: Callable[..., object]  # (*, num_classes, activation) -> torch.nn.Module
    weights: dict[str, PretrainedWeights] = field(default_factory=dict)
    default_weights: str | None = None

    def build(self, num_classes: int = 1000, activation: str | Activation = DEFAULT_ACTIVATION):
        """A fresh ``nn.Module`` with a ``num_classes`` head and the ``activation`` variant."""
        return self.builder(num_classes=num_classes, activation=activation)

    def pretrained(self, tag: str) -> PretrainedWeights:
        """The official weights ``IMAGENET1K_V1``/``IMAGENET1K_V2``/``DEFAULT``."""
        resolved = self.default_weights if tag == "DEFAULT" else tag
        if resolved not in self.weights:
            known = ", ".join([*self.weights, "DEFAULT"]) or "none"
            raise LookupError(f"{self.name} has no official weights {tag!r} (available: {known})")
        return self.weights[resolved]


_REGISTRY: dict[str, Architecture] = {}
_loaded = False


def register_model(
    builder: Callable | None = None,
    *,
    name: str | None = None,
    weights: dict[str, PretrainedWeights] | None = None,
    default_weights: str | None = None,
):
    """Register a builder under its own name (or ``name``): ``@register_model`` or ``@register_model(weights=...)``.

    ``default_weights`` is what ``DEFAULT`` means (the first of ``weights`` unless given).
    """

    def decorator(build: Callable) -> Callable:
        key = name or build.__name__
        if key in _REGISTRY and _REGISTRY[key].builder is not build:
            raise ValueError(f"architecture {key!r} is registered twice")
        weights_ = dict(weights or {})
        default = default_weights or (next(iter(weights_)) if weights_ else None)
        _REGISTRY[key] = Architecture(key, build, weights_, default)
        return build

    return decorator if builder is None else decorator(builder)


def _load_families() -> None:
    global _loaded
    if not _loaded:
        _loaded = True
        for entry in entry_points(group=ENTRY_POINT_GROUP):
            entry.load()


def architectures() -> dict[str, Architecture]:
    """Every registered architecture by name (loads the families on first use)."""
    _load_families()
    return dict(sorted(_REGISTRY.items()))


def get_architecture(name: str) -> Architecture:
    """The architecture called ``name``; ``LookupError`` naming the known ones otherwise."""
    known = architectures()
    if name not in known:
        raise LookupError(f"unknown architecture {name!r}; choose one of {', '.join(known)}")
    return known[name]
