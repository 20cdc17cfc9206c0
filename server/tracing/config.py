"""``convzoo serve --trace-config``, as Triton spells it.

Global settings are ``--trace-config <setting>=<value>``: ``mode`` (only ``opentelemetry``: convzoo
writes no Triton JSON trace file), ``level`` (OFF, TIMESTAMPS), ``rate`` and ``count``. Exporter
settings are ``--trace-config opentelemetry,<setting>=<value>``: ``url`` (default
``http://localhost:4318/v1/traces``; with ``protocol=grpc``, ``http://localhost:4317``), ``resource=<key>=<value>`` (repeatable), the batch span
processor's ``bsp_max_queue_size``, ``bsp_schedule_delay`` (ms) and ``bsp_max_export_batch_size``,
and convzoo's own ``protocol``: ``http/protobuf`` (OTLP over HTTP, Triton's, the default) or
``grpc`` (OTLP over gRPC, plaintext), the values of OpenTelemetry's
``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``. Every mistake is a ``ValueError`` of one line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from convzoo.server.tracing.settings import LEVELS, TraceSettings
from convzoo.server.tracing.spans import SpanRecorder

DEFAULT_URLS = {"http/protobuf": "http://localhost:4318/v1/traces", "grpc": "http://localhost:4317"}
PROTOCOLS = ("http/protobuf", "grpc")
BSP = ("bsp_max_queue_size", "bsp_schedule_delay", "bsp_max_export_batch_size")
NO_SDK = "--trace-config mode=opentelemetry needs the OpenTelemetry SDK and exporters: pip install 'convzoo[tracing]'"


@dataclass
class TraceConfig:
    mode: str = ""  # "opentelemetry", or "": no tracing
    level: str = "OFF"
    rate: int = 1000
    count: int = -1
    url: str = ""  # empty: the protocol's default (DEFAULT_URLS)
    protocol: str = "http/protobuf"
    resource: dict[str, str] = field(default_factory=lambda: {"service.name": "convzoo"})
    batch: dict[str, int] = field(default_factory=dict)

    @classmethod
    def parse(cls, items: list[str]) -> TraceConfig:
        config = cls()
        for item in items:
            config._apply(item)
        if config.level != "OFF" and config.mode != "opentelemetry":
            raise ValueError(
                f"--trace-config level={config.level} needs --trace-config mode=opentelemetry: "
                "convzoo exports traces over OpenTelemetry only"
            )
        return config

    def _apply(self, item: str) -> None:
        where = f"--trace-config {item}"
        section, _, setting = item.partition(",") if "," in item.split("=", 1)[0] else ("", "", item)
        name, equals, value = setting.partition("=")
        if not equals:
            raise ValueError(f"{where}: expected [opentelemetry,]<setting>=<value>")
        if section == "":
            if name == "mode":
                if value != "opentelemetry":
                    raise ValueError(
                        f"{where}: convzoo supports mode=opentelemetry only (it writes no Triton JSON trace file)"
                    )
                self.mode = value
            elif name == "level":
                if value not in LEVELS:
                    raise ValueError(f"{where}: level must be one of {', '.join(LEVELS)}")
                self.level = value
            elif name in ("rate", "count"):
                lowest = 0 if name == "rate" else -1
                try:
                    number = int(value)
                except ValueError:
                    number = lowest - 1
                if number < lowest:
                    raise ValueError(f"{where}: {name} must be an integer >= {lowest}")
                setattr(self, name, number)
            else:
                raise ValueError(f"{where}: unknown setting '{name}'; the global ones are mode, level, rate, count")
        elif section == "opentelemetry":
            if name == "url":
                self.url = value
            elif name == "protocol":
                if value not in PROTOCOLS:
                    raise ValueError(f"{where}: protocol must be one of {', '.join(PROTOCOLS)}")
                self.protocol = value
            elif name == "resource":
                key, equals, attribute = value.partition("=")
                if not equals or not key:
                    raise ValueError(f"{where}: expected opentelemetry,resource=<key>=<value>")
                self.resource[key] = attribute
            elif name in BSP:
                if not value.isdigit() or int(value) <= 0:
                    raise ValueError(f"{where}: {name} must be a positive integer")
                self.batch[name] = int(value)
            else:
                raise ValueError(
                    f"{where}: unknown setting '{name}'; the opentelemetry ones are url, protocol, resource, "
                    + ", ".join(BSP)
                )
        elif section == "triton":
            raise ValueError(f"{where}: convzoo writes no Triton JSON trace file; use mode=opentelemetry")
        else:
            raise ValueError(f"{where}: unknown section '{section}'; expected opentelemetry")

    def recorder(self) -> SpanRecorder | None:
        """The span recorder exporting over OTLP (None when tracing is not configured)."""
        if self.mode != "opentelemetry":
            return None
        try:
            from opentelemetry.sdk.resources import Resource
            from opentelemetry.sdk.trace import TracerProvider
            from opentelemetry.sdk.trace.export import BatchSpanProcessor

            if self.protocol == "grpc":
                from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

                exporter = OTLPSpanExporter(endpoint=self.url or DEFAULT_URLS["grpc"], insecure=True)
            else:
                from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

                exporter = OTLPSpanExporter(endpoint=self.url or DEFAULT_URLS["http/protobuf"])
        except ImportError:
            raise ValueError(NO_SDK) from None
        batch = self.batch
        if batch.get("bsp_max_export_batch_size", 0) > batch.get("bsp_max_queue_size", 2048):
            raise ValueError("--trace-config: bsp_max_export_batch_size must be <= bsp_max_queue_size")
        provider = TracerProvider(resource=Resource.create(self.resource))
        provider.add_span_processor(
            BatchSpanProcessor(
                exporter,
                max_queue_size=batch.get("bsp_max_queue_size"),
                schedule_delay_millis=batch.get("bsp_schedule_delay"),
                max_export_batch_size=batch.get("bsp_max_export_batch_size"),
            )
        )
        return SpanRecorder(provider)

    def settings(self, recorder: SpanRecorder | None) -> TraceSettings:
        return TraceSettings(exporting=recorder is not None, level=self.level, rate=self.rate, count=self.count)
