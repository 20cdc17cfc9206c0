"""What every case gets: the settings of the run, the models, and how to load a model in
process or start a server exactly alike (same threads, same device)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from benchmarks.models import ModelStore
from benchmarks.server import ServerProcess


@dataclass
class Context:
    work_dir: Path
    rounds: int = 5
    seconds: float = 1.0  # length of one timed sample
    threads: int = 2  # ONNX Runtime intra-op threads, PyTorch threads, server --intra-op-threads
    device: str = "cpu"
    # cuDNN's EXHAUSTIVE search runs per new shape, and dynamic batching makes many shapes.
    conv_algo_search: str = "HEURISTIC"
    quick: bool = False
    models: ModelStore = field(init=False)
    providers: set = field(default_factory=set, init=False)  # what the in-process sessions really used

    def __post_init__(self) -> None:
        self.work_dir = Path(self.work_dir)
        self.models = ModelStore(self.work_dir / "repository", self.quick)

    def archs(self, *names: str) -> tuple[str, ...]:
        """The architectures a case names; in quick mode, only the first (it maps to the tiny model)."""
        return names[:1] if self.quick else names

    def load_options(self):
        """The server's ``LoadOptions`` for this run (same threads and device as ``serve``)."""
        from convzoo.base.device import DeviceRequest
        from convzoo.server.model import LoadOptions

        device = DeviceRequest.parse(self.device, conv_algo_search=self.conv_algo_search)
        return LoadOptions(device=device, intra_op_threads=self.threads)

    def load_model(self, folder: Path):
        """Version 1 of the model in ``folder`` loaded in this process exactly as the server loads it."""
        from convzoo.server.model import load
        from convzoo.server.repository import read_model

        model = load(read_model(folder.parent, folder.name), 1, self.load_options())
        self.providers.update(model.session.get_providers())
        return model

    def serve_args(self) -> list[str]:
        cuda = [] if self.device == "cpu" else ["--strict-device", "--cudnn-conv-algo-search", self.conv_algo_search]
        return ["--device", self.device, "--intra-op-threads", str(self.threads), *cuda]

    def start_server(self, repository: Path, *args: str) -> ServerProcess:
        """``convzoo serve`` of ``repository`` with this run's threads and device (a context manager)."""
        return ServerProcess(repository, *self.serve_args(), *args)
