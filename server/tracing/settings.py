"""The trace settings of Triton's trace extension, global and per model, and which requests
they sample.

The settings are Triton's: ``trace_level`` (OFF or TIMESTAMPS), ``trace_rate`` (one request of
every N is traced; 0: only those whose client sent a sampled ``traceparent``), ``trace_count``
(traces left to take; -1: no limit) and, read-only because convzoo writes no trace file (it
exports spans over OpenTelemetry), ``trace_file`` and ``log_frequency``. A model's setting
overrides the global one; a model's setting cleared (JSON null, or no value over gRPC) follows
the global one again. As in Triton, a request whose client propagated a sampled trace context
is traced whatever the rate and count, as long as its level is not OFF.

``active`` is False unless some level is TIMESTAMPS and spans have somewhere to go: the data
plane checks it, and nothing else, on every request.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence

from convzoo.base.errors import Kind, ServingError, invalid, not_found

LEVELS = ("OFF", "TIMESTAMPS")
READ_ONLY = {"trace_file": "", "log_frequency": "0"}
SETTINGS = ("trace_file", "trace_level", "trace_rate", "trace_count", "log_frequency")
NO_EXPORTER = (
    "tracing is not configured: start convzoo serve with --trace-config mode=opentelemetry "
    "(and pip install 'convzoo[tracing]') to export spans"
)

# What a change holds: a setting's name -> its values (one, or several for trace_level), or None to clear it.
Changes = Mapping[str, Sequence[str] | None]


class TraceSettings:
    """The global trace setting and the models' overrides; ``sample`` decides per request."""

    def __init__(self, *, exporting: bool, level: str = "OFF", rate: int = 1000, count: int = -1):
        self.exporting = exporting  # spans go somewhere: without, a level other than OFF is refused
        self._global: dict[str, object] = {"trace_level": level, "trace_rate": rate, "trace_count": count}
        self._models: dict[str, dict[str, object]] = {}  # only the settings a model sets itself
        self._seen: dict[str, int] = {}  # requests counted towards the rate, per model ("" for the global setting)
        self._lock = threading.Lock()
        self.active = False
        self._update_active()

    def setting(self, model: str = "") -> dict[str, list[str] | str]:
        """The settings in force for ``model`` (the global ones when empty), as Triton lists them."""
        with self._lock:
            effective = self._effective(model)
        return {
            "trace_file": READ_ONLY["trace_file"],
            "trace_level": [effective["trace_level"]],
            "trace_rate": str(effective["trace_rate"]),
            "trace_count": str(effective["trace_count"]),
            "log_frequency": READ_ONLY["log_frequency"],
        }

    def update(self, changes: Changes, model: str = "", known: Callable[[str], bool] = lambda name: True):
        """Apply ``changes`` to ``model``'s setting (the global one when empty); returns the
        settings in force. INVALID for an unknown setting or a bad value, NOT_FOUND for an unknown
        model, FAILED_PRECONDITION for a level other than OFF when no exporter is configured."""
        if model and not known(model):
            raise not_found(f"unknown model '{model}'")
        parsed = {name: _parse(name, values) for name, values in changes.items()}
        if not self.exporting and parsed.get("trace_level") not in (None, "OFF"):
            raise ServingError(Kind.FAILED_PRECONDITION, NO_EXPORTER)
        with self._lock:
            target = self._models.setdefault(model, {}) if model else self._global
            for name, value in parsed.items():
                if name in READ_ONLY:
                    continue
                if value is None:
                    if model:
                        target.pop(name, None)
                    continue  # the global setting cannot be cleared: it stays
                target[name] = value
                if name == "trace_rate":
                    self._seen.pop(model, None)
            if model and not target:
                del self._models[model]
            self._update_active()
        return self.setting(model)

    def sample(self, model: str, propagated: bool) -> bool:
        """Whether this request of ``model`` is traced (``propagated``: its client sent a sampled
        trace context); a request counted towards the rate and a trace taken change the state."""
        with self._lock:
            overrides = self._models.get(model)
            scope = model if overrides else ""
            effective = self._effective(scope)
            if effective["trace_level"] == "OFF":
                return False
            if propagated:
                return True
            rate, count = effective["trace_rate"], effective["trace_count"]
            if rate == 0 or count == 0:
                return False
            seen = self._seen.get(scope, 0) + 1
            self._seen[scope] = seen % rate
            if seen < rate:
                return False
            if count > 0:
                owner = overrides if overrides and "trace_count" in overrides else self._global
                owner["trace_count"] = count - 1
            return True

    def _effective(self, model: str) -> dict[str, object]:
        return {**self._global, **self._models.get(model, {})} if model else dict(self._global)

    def _update_active(self) -> None:
        levels = [self._global["trace_level"], *(s.get("trace_level") for s in self._models.values())]
        self.active = self.exporting and any(level not in (None, "OFF") for level in levels)


def _parse(name: str, values: Sequence[str] | None) -> object:
    """A setting's values checked: the level as a string, the rate and count as integers, None to clear."""
    if name not in SETTINGS:
        raise invalid(f"unknown trace setting '{name}'; the settings are {', '.join(SETTINGS)}")
    if values is None or len(values) == 0:
        return None
    if name == "trace_level":
        levels = set(values)
        if not levels <= set(LEVELS) or len(levels) > 1:
            raise invalid(f"trace_level must be one of {', '.join(LEVELS)}, got {list(values)}")
        return values[0]
    if len(values) > 1:
        raise invalid(f"{name} takes one value, got {list(values)}")
    value = values[0]
    if name in READ_ONLY:
        if value != READ_ONLY[name]:
            raise invalid(
                f"{name} is read-only ({READ_ONLY[name]!r}): convzoo writes no trace file, it exports spans "
                "over OpenTelemetry (serve --trace-config mode=opentelemetry)"
            )
        return value
    lowest = 0 if name == "trace_rate" else -1
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = None
    if number is None or number < lowest:
        raise invalid(f"{name} must be an integer >= {lowest}, got {value!r}")
    return number
