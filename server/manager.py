"""The server's models: what the repository holds, which versions serve, and why not.

The manager owns each version's lifecycle (LOADING -> READY | UNAVAILABLE, UNLOADING ->
UNAVAILABLE). A version that fails to load stays listed UNAVAILABLE with its reason; the
others serve. Loads of different models may run concurrently; a reload replaces the old
versions only after the new ones are up.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from convzoo.base.errors import invalid, not_found, unavailable
from convzoo.server import memory, paths, repository
from convzoo.server.batcher import Batcher
from convzoo.server.model import LoadOptions, Model, load
from convzoo.server.statistics import Statistics

log = logging.getLogger(__name__)
READY, UNAVAILABLE, LOADING, UNLOADING = "READY", "UNAVAILABLE", "LOADING", "UNLOADING"


@dataclass
class Served:
    """A ready version: the model and its request queue."""

    model: Model
    batcher: Batcher


@dataclass
class VersionState:
    version: int | None
    state: str
    reason: str = ""
    served: Served | None = None


class ModelManager:
    """Loads, unloads and looks up model versions of one repository.

    ``on_change(name, ready)`` hears when a model starts or stops serving; ``load_model``
    creates one version's ``Model`` (``model.load``; tests pass slow or failing ones).
    """

    def __init__(
        self,
        root: Path,
        options: LoadOptions,
        statistics: Statistics,
        *,
        max_queue_size: int = 1024,
        on_change: Callable[[str, bool], None] = lambda name, ready: None,
        load_model: Callable[[repository.ModelSource, int, LoadOptions], Model] = load,
    ):
        self.root = Path(root)
        self.options = options
        self.statistics = statistics
        self.max_queue_size = max_queue_size
        self.on_change = on_change
        self.load_model = load_model
        self._lock = threading.Lock()
        self._model_locks: dict[str, threading.Lock] = {}
        self._models: dict[str, list[VersionState]] = {}

    def load_all(self) -> None:
        """Load every model of the repository; failures are recorded, not raised."""
        for name in repository.model_names(self.root):
            try:
                self.load(name)
            except (ValueError, OSError, LookupError):
                pass  # recorded as UNAVAILABLE with its reason, and logged

    def load(self, name: str) -> None:
        """(Re)load a model's selected versions; raises ValueError if any fails (or the name is
        not a folder name: then nothing is recorded or opened)."""
        paths.check_name(name)
        with self._lock:
            model_lock = self._model_locks.setdefault(name, threading.Lock())
        with model_lock:
            try:
                source = repository.read_model(self.root, name)
                versions = source.selected_versions()
            except LookupError:
                raise
            except (ValueError, OSError) as exc:
                log.error("model '%s' is UNAVAILABLE: %s", name, exc)
                self._replace(name, [VersionState(None, UNAVAILABLE, str(exc))])
                raise ValueError(str(exc)) from None
            self._mark_loading(name, versions)
            states = [self._load_version(source, version) for version in versions]
            self._replace(name, states)
        failures = [s for s in states if s.state != READY]
        if failures:
            raise ValueError("; ".join(f"version {s.version}: {s.reason}" for s in failures))

    def _load_version(self, source: repository.ModelSource, version: int) -> VersionState:
        try:
            model = self.load_model(source, version, self.options)
        except (ValueError, OSError, LookupError) as exc:
            log.error("model '%s' version %d is UNAVAILABLE: %s", source.name, version, exc)
            return VersionState(version, UNAVAILABLE, str(exc))
        self.statistics.set_precision(model.name, str(model.version), model.card.get("precision", ""))
        batching = model.config.dynamic_batching
        batcher = Batcher(
            model,
            self.statistics,
            max_queue_size=batching.default_queue_policy.max_queue_size or self.max_queue_size,
            max_queue_delay_ns=batching.max_queue_delay_microseconds * 1000,
            preferred_batch_sizes=tuple(batching.preferred_batch_size),
            workers=model.config.instance_group[0].count,
        )
        return VersionState(version, READY, served=Served(model, batcher))

    def unload(self, name: str) -> None:
        """Stop serving a model: new requests are refused, queued ones finish."""
        paths.check_name(name)
        with self._lock:
            if name not in self._models and name not in repository.model_names(self.root):
                raise LookupError(f"model '{name}' is not in the repository {self.root}")
        self._replace(name, [VersionState(None, UNAVAILABLE, "unloaded")])

    def _mark_loading(self, name: str, versions: list[int]) -> None:
        with self._lock:
            if any(s.state == READY for s in self._models.get(name, [])):
                return  # a reload keeps serving the old versions until the new ones are up
            self._models[name] = [VersionState(v, LOADING) for v in versions]

    def _replace(self, name: str, states: list[VersionState]) -> None:
        with self._lock:
            old = self._models.get(name, [])
            for state in old:
                if state.served:
                    state.state = UNLOADING
            self._models[name] = states
        _retire(old)
        del old  # the old sessions go now (unless a request in flight still holds one)
        memory.release()  # hand back their memory and the load's parse buffers
        self.on_change(name, any(s.state == READY for s in states))

    def close(self) -> None:
        """Unload everything, letting queued requests finish."""
        for name in list(self._models):
            self._replace(name, [VersionState(None, UNAVAILABLE, "server shutting down")])

    def get(self, name: str, version: str = "") -> Served:
        """The ready version asked for (empty: the latest ready one).

        INVALID_ARGUMENT for an empty name, NOT_FOUND for an unknown model or version,
        UNAVAILABLE for one that is not ready.
        """
        if not name:
            raise invalid("model name is empty")
        with self._lock:
            states = self._models.get(name)
        if states is None:
            raise not_found(f"unknown model '{name}'; models in the repository: {', '.join(self.names()) or 'none'}")
        known = sorted(s.version for s in states if s.version is not None)
        if version:
            match = [s for s in states if s.version is not None and str(s.version) == version]
            if not match:
                raise not_found(
                    f"model '{name}' has no version '{version}'; versions: {', '.join(map(str, known)) or 'none'}"
                )
            state = match[0]
        else:
            ready = [s for s in states if s.state == READY]
            state = max(ready, key=lambda s: s.version) if ready else states[-1]
        if state.state != READY or state.served is None:
            label = f"model '{name}'" + (f" version {state.version}" if state.version else "")
            raise unavailable(f"{label} is not ready ({state.state}{': ' + state.reason if state.reason else ''})")
        return state.served

    def names(self) -> list[str]:
        with self._lock:
            return sorted(self._models)

    def versions(self, name: str) -> list[VersionState]:
        with self._lock:
            return list(self._models.get(name, []))

    def index(self) -> list[tuple[str, VersionState]]:
        """Every model of the repository (loaded or not) with its versions' states."""
        with self._lock:
            models = dict(self._models)
        names = sorted(set(models) | set(repository.model_names(self.root)))
        rows = []
        for name in names:
            for state in models.get(name) or [VersionState(None, UNAVAILABLE, "not loaded")]:
                rows.append((name, state))
        return rows

    def ready(self) -> list[Served]:
        with self._lock:
            return [s.served for states in self._models.values() for s in states if s.state == READY and s.served]


def _retire(states: list[VersionState]) -> None:
    """Close the request queues of versions taken out of service (queued requests still run)."""
    for state in states:
        if state.served:
            state.served.batcher.close()
