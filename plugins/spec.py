"""The evaluation job, typed: what ``convzoo eval``, ``convzoo sweep`` and the server's Evaluation
service ask for. Each builds a ``JobSpec`` from its own input (argparse, a sweep plan, a gRPC
request) and hands it to ``convzoo.plugins.job``; nothing goes through argv twice."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from convzoo.client.channel import Security
from convzoo.plugins import registry
from convzoo.plugins.evaluate import Settings
from convzoo.plugins.robustness import RobustnessOptions


@dataclass(frozen=True)
class RayOptions:
    address: str | None = None  # as ray.init takes it ("auto", "ray://host:10001", "host:port"); None: a local Ray
    actors: int = 2
    device: str = "cpu"


@dataclass(frozen=True)
class Overrides:
    """Preprocessing set by the user over the model's own recipe (None: the model's)."""

    resize_size: int | None = None
    crop_size: int | None = None
    interpolation: str | None = None

    def any(self) -> bool:
        return any(value is not None for value in vars(self).values())


@dataclass(frozen=True)
class Remote:
    """Where the model is served: a KServe v2 gRPC endpoint (or fleet), and whether the whole job runs there."""

    url: str
    model_version: str = ""
    security: Security = field(default_factory=Security)
    inside: bool = False  # the evaluation runs inside a convzoo server on a dataset it registered
    shared_memory: bool = False  # batches go through /dev/shm (a server on this machine)


# Options that need the data on this machine, by the flag that sets them (refused with ``Remote.inside``).
LOCAL_ONLY = ("--resume", "--predictions", "--draft", "--resize-size", "--crop-size", "--interpolation")


@dataclass(frozen=True)
class JobSpec:
    """One evaluation: which model on which data, with which plugins and settings, and where it runs."""

    data: str  # a dataset folder, or with ``remote.inside`` a dataset name the server registered
    model: str  # an ONNX file, or with ``remote`` the served model's name
    format: str = "auto"
    plugins: str = registry.DEFAULT_SPEC
    settings: Settings = Settings()
    device: str = "auto"  # in-process ONNX Runtime device (and the Ray actors')
    overrides: Overrides = Overrides()
    robustness: RobustnessOptions = RobustnessOptions()
    remote: Remote | None = None
    ray: RayOptions | None = None
    output: Path | None = None  # the JSON report (and its .md summary next to it)
    resume: bool = False
    checkpoint_every: int = 50
    predictions: Path | None = None
    progress: bool = True

    def check(self) -> None:
        """Refuse combinations that cannot run, with the flag names the user typed."""
        if self.ray is not None and (self.remote or self.resume):
            raise ValueError("--ray runs an ONNX file on the cluster: it takes neither --server nor --resume")
        if self.remote and self.remote.inside and self.remote.shared_memory:
            raise ValueError("--shared-memory sends batches to a --server on this machine (not with --remote)")
        if self.remote and self.remote.inside and self.robustness.requested():
            raise ValueError(
                f"{', '.join(self.robustness.requested())} run in-process or with --ray, not with --remote"
            )
        if self.remote and self.remote.inside:
            given = (
                self.resume,
                self.predictions,
                self.settings.draft,
                self.overrides.resize_size,
                self.overrides.crop_size,
                self.overrides.interpolation,
            )
            local = [flag for flag, value in zip(LOCAL_ONLY, given) if value]
            if local or self.format != "auto":
                raise ValueError(
                    f"{', '.join(local + (['--format'] if self.format != 'auto' else []))} "
                    "cannot be used with --remote (the server owns the data)"
                )
        if self.resume and not self.output:
            raise ValueError("--resume needs --output (the checkpoint lives next to the report)")
