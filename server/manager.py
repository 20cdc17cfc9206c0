"""The server's models: what the repository holds, which versions serve, and why not.

The manager owns each version's lifecycle (LOADING -> READY | UNAVAILABLE, UNLOADING ->
UNAVAILABLE). A version that fails to load, for any reason, stays listed UNAVAILABLE with
its reason and leaves nothing running; the others serve. Loads of different models may run
concurrently; loads of one model run in turn, and a reload replaces the old versions only
after the new ones are up. An unload takes effect at once and wins over any load of the same
model under way or waiting (the last request wins). Only names in the repository are kept.
"""

from __future__ import annotations

import logging
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from convzoo.base.errors import invalid, not_found, unavailable
from convzoo.server import memory, paths, repository
from convzoo.server.batcher import Batcher
from convzoo.server.model import LoadOptions, Model, load
from convzoo.server.statistics import Statistics

log = logging.getLogger(__name__)
READY, UNAVAILABLE, LOADING, UNLOADING = "READY", "UNAVAILABLE", "LOADING", "UNLOADING"
SHUTTING_DOWN = "the server is shutting down"


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
        self._notify_lock = threading.RLock()  # taken before ``_lock``, never while holding it
        self._loads: dict[str, _Loads] = {}  # only models with a load under way or waiting
        self._models: dict[str, list[VersionState]] = {}
        self._closed = False

    def load_all(self) -> None:
        """Load every model of the repository; failures are recorded, not raised."""
        for name in repository.model_names(self.root):
            try:
                self.load(name)
            except (ValueError, OSError, LookupError):
                pass  # recorded as UNAVAILABLE with its reason, and logged

    def load(self, name: str) -> None:
        """(Re)load a model's selected versions; raises ValueError if any fails (or the name is
        not a folder name: then nothing is recorded or opened), LookupError if the repository
        has no such model.

        Loads of one model run one at a time, in turn. An unload sent while a load is under way
        or waiting wins: that load's versions never serve. After ``close`` it raises ValueError.
        """
        paths.check_name(name)
        with self._lock:
            if self._closed:
                raise ValueError(SHUTTING_DOWN)
            loads = self._loads.setdefault(name, _Loads())
            loads.count += 1
            ticket = _Ticket(loads, loads.unloads)
        try:
            with loads.lock:
                failures = self._load_in_turn(name, ticket)
        finally:
            with self._lock:
                loads.count -= 1
                if not loads.count:
                    del self._loads[name]  # a name leaves nothing behind once its loads are done
        if failures:
            raise ValueError(failures)

    def _load_in_turn(self, name: str, ticket: _Ticket) -> str:
        """Read the model and load its versions, holding its load lock; the failures, or ""."""
        with self._lock:
            if not self._current(ticket):
                return self._overtaken(name)
        try:
            source = repository.read_model(self.root, name)
            versions = source.selected_versions()
        except LookupError:
            raise
        except Exception as exc:  # of any kind: the model is recorded UNAVAILABLE, never left LOADING
            reason = _reason(exc)
            log.error("model '%s' is UNAVAILABLE: %s", name, reason)
            if not self._replace(name, [VersionState(None, UNAVAILABLE, reason)], ticket):
                return self._overtaken(name)
            return reason
        with self._lock:
            if not self._current(ticket):
                return self._overtaken(name)
            if not any(s.state == READY for s in self._models.get(name, [])):
                # a reload keeps serving the old versions until the new ones are up
                self._models[name] = [VersionState(v, LOADING) for v in versions]
        states = [self._load_version(source, version) for version in versions]
        failures = "; ".join(f"version {s.version}: {s.reason}" for s in states if s.state != READY)
        if not self._replace(name, states, ticket):
            return self._overtaken(name)
        return failures

    def _current(self, ticket: _Ticket) -> bool:
        """No unload or close came since this load was sent. Called with the lock held."""
        return not self._closed and ticket.loads.unloads == ticket.unloads

    def _overtaken(self, name: str) -> str:
        """What a load that an unload or close overtook reports: nothing, as if it had finished
        before the unload; or that the server is shutting down."""
        if self._closed:
            raise ValueError(SHUTTING_DOWN)
        log.info("model '%s' was unloaded while a load of it was under way or waiting: that load serves nothing", name)
        return ""

    def _load_version(self, source: repository.ModelSource, version: int) -> VersionState:
        """One version, READY with its batcher, or UNAVAILABLE with the reason (then nothing of it
        is left: no batcher thread, no session)."""
        try:
            model = self.load_model(source, version, self.options)
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
        except Exception as exc:  # of any kind: a version that cannot serve is recorded, never raised
            reason = _reason(exc)
            log.error("model '%s' version %d is UNAVAILABLE: %s", source.name, version, reason)
            return VersionState(version, UNAVAILABLE, reason)
        return VersionState(version, READY, served=Served(model, batcher))

    def unload(self, name: str) -> None:
        """Stop serving a model: new requests are refused, queued ones finish (this waits for
        them). A load of it under way or waiting does not serve its versions."""
        paths.check_name(name)
        with self._lock:
            if name not in self._models and name not in repository.model_names(self.root):
                raise LookupError(f"model '{name}' is not in the repository {self.root}")
            if name in self._loads:
                self._loads[name].unloads += 1
        self._replace(name, [VersionState(None, UNAVAILABLE, "unloaded")])

    def _replace(self, name: str, states: list[VersionState], ticket: _Ticket | None = None) -> bool:
        """Serve ``states`` in place of the model's versions and retire the old ones (their queued
        requests still run). For a load (``ticket``) only if no unload or close came since it
        was sent; otherwise ``states`` are retired and it returns False."""
        with self._lock:
            replaced = ticket is None or self._current(ticket)
            if replaced:
                old = self._models.get(name, [])
                for state in old:
                    if state.served:
                        state.state = UNLOADING
                        state.served.batcher.stop_accepting()  # as the lookup stops finding it
                self._models[name] = states
            else:
                old = states
        if replaced:
            self._notify(name)  # before the old queues drain: they take no new requests
        _retire(old)
        del old  # the old sessions go now (unless a request in flight still holds one)
        memory.release()  # hand back their memory and the load's parse buffers
        return replaced

    def _notify(self, name: str) -> None:
        """Tell ``on_change`` whether the model serves now. Calls run one at a time and read the
        state when they run, so the last one tells the last change even when changes race."""
        with self._notify_lock:
            with self._lock:
                ready = any(s.state == READY for s in self._models.get(name, []))
            self.on_change(name, ready)

    def close(self) -> None:
        """Unload everything, letting queued requests finish. Loads under way when it is called
        retire what they load; later ones are refused."""
        with self._lock:
            self._closed = True
            names = list(self._models)
        for name in names:
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
        if version:
            match = [s for s in states if s.version is not None and str(s.version) == version]
            if not match:
                known = sorted(s.version for s in states if s.version is not None)
                raise not_found(
                    f"model '{name}' has no version '{version}'; versions: {', '.join(map(str, known)) or 'none'}"
                )
            state = match[0]
        else:
            state = _latest_ready(states)
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


@dataclass(eq=False)
class _Loads:
    """The loads of one model under way or waiting (``count``; ``lock`` lets one run at a
    time), and the unloads sent since the first of them."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    count: int = 0
    unloads: int = 0


@dataclass(frozen=True)
class _Ticket:
    """One load: its model's loads, and their unload count when it was sent."""

    loads: _Loads
    unloads: int


def _reason(exc: Exception) -> str:
    """Why a model or version cannot serve: the message of an expected failure (a bad file,
    a bad config); for anything else the exception's type too, and its traceback in the log."""
    if isinstance(exc, (ValueError, OSError, LookupError)):
        return str(exc)
    log.error("unexpected failure loading a model:\n%s", "".join(traceback.format_exception(exc)))
    return f"{type(exc).__name__}: {exc}"


def _retire(states: list[VersionState]) -> None:
    """Close the request queues of versions taken out of service (queued requests still run)."""
    for state in states:
        if state.served:
            state.served.batcher.close()


def _latest_ready(states: list[VersionState]) -> VersionState:
    """The ready state of the highest version, else the last state (which says why none is ready)."""
    latest = None
    for state in states:
        if state.state == READY and (latest is None or state.version > latest.version):
            latest = state
    return states[-1] if latest is None else latest
