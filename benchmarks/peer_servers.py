"""KServe's and MLServer's Python model servers serving convzoo's ONNX files, as subprocesses.

Each peer runs a small model script written here (its documented custom-model API) that
opens the file with ONNX Runtime exactly as ``convzoo serve`` does: the same intra-op
threads, one inter-op thread, no spinning; ``predict`` is one ``session.run``. Per-request
log lines are off in both (convzoo writes none). The servers listen on free 127.0.0.1 ports
and are ready when tritonclient says the server and every model are.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from pathlib import Path

SESSION = """
import onnxruntime as ort


def open_session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.add_session_config_entry("session.inter_op.allow_spinning", "0")
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])
"""

KSERVE_SCRIPT = (
    '"""convzoo benchmark: ONNX files as KServe models. Args: HTTP_PORT GRPC_PORT THREADS NAME=PATH..."""\n'
    + SESSION
    + """
import logging
import sys

import kserve
from kserve import InferOutput, InferRequest, InferResponse
from kserve.utils.utils import generate_uuid


class OnnxModel(kserve.Model):
    def __init__(self, name, path, threads):
        super().__init__(name)
        self.path, self.threads = path, threads
        self.load()

    def load(self):
        self.session = open_session(self.path, self.threads)
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name
        self.ready = True
        return self.ready

    def predict(self, payload: InferRequest, headers=None, response_headers=None) -> InferResponse:
        (result,) = self.session.run([self.output], {self.input: payload.inputs[0].as_numpy()})
        output = InferOutput(name=self.output, shape=list(result.shape), datatype="FP32")
        output.set_data_from_numpy(result, binary_data=True)
        return InferResponse(model_name=self.name, infer_outputs=[output], response_id=payload.id or generate_uuid())


if __name__ == "__main__":
    http_port, grpc_port, threads = (int(a) for a in sys.argv[1:4])
    models = [OnnxModel(*spec.split("=", 1), threads) for spec in sys.argv[4:]]
    server = kserve.ModelServer(
        http_port=http_port, grpc_port=grpc_port, workers=1, enable_latency_logging=False, access_log_format=None
    )
    logging.getLogger("kserve.trace").setLevel(logging.WARNING)  # REST's per-request timing lines
    server.start(models)
"""
)

MLSERVER_RUNTIME = (
    '"""convzoo benchmark: an ONNX file as an MLServer custom runtime (parameters.uri, extra.threads)."""\n'
    + SESSION
    + """
from mlserver import MLModel
from mlserver.codecs import NumpyCodec
from mlserver.types import InferenceRequest, InferenceResponse


class OnnxRuntime(MLModel):
    async def load(self) -> bool:
        parameters = self.settings.parameters
        self.session = open_session(parameters.uri, int(parameters.extra["threads"]))
        self.input = self.session.get_inputs()[0].name
        self.output = self.session.get_outputs()[0].name
        return True

    async def predict(self, payload: InferenceRequest) -> InferenceResponse:
        array = NumpyCodec.decode_input(payload.inputs[0])
        (result,) = self.session.run([self.output], {self.input: array})
        output = NumpyCodec.encode_output(self.output, result)
        return InferenceResponse(model_name=self.name, id=payload.id, outputs=[output])
"""
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class PeerServer:
    """A peer server subprocess (a context manager); ``grpc_url`` and ``http_url`` once ready."""

    def __init__(
        self,
        name: str,
        command: list[str],
        models: list[str],
        ports: tuple[int, int],
        log: Path,
        *,
        cwd: Path,
        env=None,
    ):
        self.name = name
        self.http_port, self.grpc_port = ports
        self.log = log
        with log.open("w") as sink:
            self.process = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=sink, stderr=subprocess.STDOUT, start_new_session=True
            )
        try:
            self._wait_ready(models)
        except BaseException:
            self.stop()
            raise

    @property
    def grpc_url(self) -> str:
        return f"127.0.0.1:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"127.0.0.1:{self.http_port}"

    def _wait_ready(self, models: list[str], timeout: float = 300) -> None:
        import tritonclient.grpc as triton

        deadline = time.monotonic() + timeout
        with triton.InferenceServerClient(self.grpc_url) as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    break
                try:
                    if client.is_server_ready() and all(client.is_model_ready(m) for m in models):
                        return
                except Exception:  # not listening yet
                    pass
                time.sleep(0.5)
        tail = self.log.read_text(errors="replace")[-2000:]
        raise RuntimeError(f"{self.name} did not become ready (log {self.log}):\n{tail}")

    def __enter__(self) -> PeerServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM the server's process group (MLServer has worker processes), then kill."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def kserve_server(python: Path, models: dict[str, Path], threads: int, folder: Path) -> PeerServer:
    """KServe's ModelServer with one ``kserve.Model`` per ONNX file."""
    folder = folder.resolve()  # the server runs in it: a relative --work-dir would be counted twice
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / "kserve_onnx.py"
    script.write_text(KSERVE_SCRIPT)
    http_port, grpc_port = free_port(), free_port()
    specs = [f"{name}={Path(path).resolve()}" for name, path in models.items()]
    command = [str(python), str(script), str(http_port), str(grpc_port), str(threads), *specs]
    return PeerServer("KServe", command, list(models), (http_port, grpc_port), folder / "kserve.log", cwd=folder)


def mlserver_server(python: Path, models: dict[str, Path], threads: int, folder: Path) -> PeerServer:
    """``mlserver start`` of a folder with one model-settings.json per ONNX file (custom runtime)."""
    folder = folder.resolve()
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "peer_onnx.py").write_text(MLSERVER_RUNTIME)
    http_port, grpc_port = free_port(), free_port()
    # parallel_workers 0: inference in the server process, as the other two (MLServer 1.7's worker
    # pool also dies at start with uvloop 0.22: "There is no current event loop").
    settings = {
        "http_port": http_port,
        "grpc_port": grpc_port,
        "metrics_port": free_port(),
        "parallel_workers": 0,
        "debug": False,
    }
    (folder / "settings.json").write_text(json.dumps(settings, indent=1))
    for name, path in models.items():
        (folder / name).mkdir(exist_ok=True)
        model_settings = {
            "name": name,
            "implementation": "peer_onnx.OnnxRuntime",
            "parameters": {"uri": str(Path(path).resolve()), "extra": {"threads": threads}},
        }
        (folder / name / "model-settings.json").write_text(json.dumps(model_settings, indent=1))
    env = {**os.environ, "PYTHONPATH": str(folder)}
    command = [str(python.parent / "mlserver"), "start", str(folder)]
    ports = (http_port, grpc_port)
    return PeerServer("MLServer", command, list(models), ports, folder / "mlserver.log", cwd=folder, env=env)
