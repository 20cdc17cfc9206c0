"""Checks of ``convzoo serve``'s system shared memory with NVIDIA's tritonclient, unmodified:
``tritonclient.utils.shared_memory`` creates the regions, the gRPC or HTTP client registers
them and names them in requests. Run as a script, one process per check (tritonclient's
generated ``inference`` package clashes with convzoo's in one process):

    python tests/tritonclient_shm_checks.py grpc|http HOST:PORT CHECK

Each ``check_<name>`` raises on failure. Region names and keys are unique per run, and every
check unregisters and destroys what it made.
"""

from __future__ import annotations

import base64
import contextlib
import sys
import uuid

import numpy as np
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
import tritonclient.utils.shared_memory as shm
from server_repository import CLASSES, IMAGE, classifier_logits
from tritonclient.utils import InferenceServerException

RUN = uuid.uuid4().hex[:10]


def batch(rows: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(-4, 5, size=(rows, 3, IMAGE, IMAGE)).astype(np.float32)


class Transport:
    """The one client library the check runs with: ``module`` is tritonclient.grpc or .http."""

    def __init__(self, kind: str, url: str):
        self.kind = kind
        self.module = grpcclient if kind == "grpc" else httpclient
        self.client = self.module.InferenceServerClient(url)

    def refused(self, grpc_status: str, http_status: str, text: str, call, *args, **kwargs) -> None:
        try:
            call(*args, **kwargs)
        except InferenceServerException as error:
            status = grpc_status if self.kind == "grpc" else http_status
            assert error.status() == status, (error.status(), error.message())
            assert text in error.message(), error.message()
        else:
            raise AssertionError(f"{getattr(call, '__name__', call)} succeeded; expected {text!r}")

    def regions(self) -> dict[str, dict]:
        """The server's status listing, by region name, in the client's JSON form."""
        if self.kind == "grpc":
            status = self.client.get_system_shared_memory_status(as_json=True)
            return {name: region for name, region in status.get("regions", {}).items()}
        return {region["name"]: region for region in self.client.get_system_shared_memory_status()}


@contextlib.contextmanager
def region(transport: Transport, tag: str, byte_size: int, *, offset: int = 0, register: bool = True):
    """A POSIX shared memory object of ``offset + byte_size`` bytes, registered as ``tag`` + RUN."""
    name, key = f"{tag}_{RUN}", f"/convzoo_{tag}_{RUN}"
    handle = shm.create_shared_memory_region(name, key, offset + byte_size)
    try:
        if register:
            transport.client.register_system_shared_memory(name, key, byte_size, offset=offset)
        yield name, key, handle
    finally:
        with contextlib.suppress(InferenceServerException):
            transport.client.unregister_system_shared_memory(name)
        shm.destroy_shared_memory_region(handle)


def check_round_trip(t: Transport):
    data = batch(2)
    out_bytes = 2 * CLASSES * 4
    with (
        region(t, "in", data.nbytes) as (in_name, in_key, in_handle),
        region(t, "out", out_bytes) as (out_name, _, out_handle),
    ):
        shm.set_shared_memory_region(in_handle, [data])
        listed = t.regions()
        assert {in_name, out_name} <= set(listed), listed
        assert listed[in_name]["key"] == in_key and int(listed[in_name]["byte_size"]) == data.nbytes
        tensor = t.module.InferInput("input", list(data.shape), "FP32")
        tensor.set_shared_memory(in_name, data.nbytes)
        output = t.module.InferRequestedOutput("logits")
        output.set_shared_memory(out_name, out_bytes)
        result = t.client.infer("classifier", [tensor], outputs=[output])
        described = result.get_output("logits")  # as Triton answers: datatype and shape, no data
        if t.kind == "grpc":
            assert list(described.shape) == [2, CLASSES] and described.datatype == "FP32"
            assert result.get_response().raw_output_contents == [b""]
        else:
            assert described == {"name": "logits", "datatype": "FP32", "shape": [2, CLASSES]}
        logits = shm.get_contents_as_numpy(out_handle, np.float32, [2, CLASSES])
        np.testing.assert_allclose(logits, classifier_logits(data), rtol=1e-5, atol=1e-5)


def check_offsets_and_mixed_tensors(t: Transport):
    """INPUT0 and OUTPUT0 in shared memory at offsets, INPUT1 and OUTPUT1 in the message."""
    first = np.arange(8, dtype=np.int32).reshape(2, 4)
    second = np.full((2, 4), 3, dtype=np.int32)
    with (
        region(t, "mixed_in", first.nbytes, offset=4096 + 16) as (in_name, _, in_handle),
        region(t, "mixed_out", 64, offset=8) as (out_name, _, out_handle),
    ):
        shm.set_shared_memory_region(in_handle, [first], offset=4096 + 16)
        input0 = t.module.InferInput("INPUT0", [2, 4], "INT32")
        input0.set_shared_memory(in_name, first.nbytes)
        input1 = t.module.InferInput("INPUT1", [2, 4], "INT32")
        input1.set_data_from_numpy(second)
        output0 = t.module.InferRequestedOutput("OUTPUT0")
        output0.set_shared_memory(out_name, first.nbytes, offset=16)
        outputs = [output0, t.module.InferRequestedOutput("OUTPUT1")]
        result = t.client.infer("int_add", [input0, input1], outputs=outputs)
        np.testing.assert_array_equal(result.as_numpy("OUTPUT1"), first - second)
        summed = shm.get_contents_as_numpy(out_handle, np.int32, [2, 4], offset=8 + 16)
        np.testing.assert_array_equal(summed, first + second)


def check_refusals(t: Transport):
    with region(t, "twice", 64) as (name, key, _):
        t.refused(
            "StatusCode.ALREADY_EXISTS",
            "409",
            f"shared memory region '{name}' is already registered",
            t.client.register_system_shared_memory,
            name,
            key,
            64,
        )
        t.refused(
            "StatusCode.INVALID_ARGUMENT",
            "400",
            "is beyond the 64 bytes of",
            t.client.register_system_shared_memory,
            f"far_{RUN}",
            key,
            64,
            offset=8,
        )
        too_small = t.module.InferRequestedOutput("logits")
        too_small.set_shared_memory(name, 16)
        tensor = t.module.InferInput("input", [1, 3, IMAGE, IMAGE], "FP32")
        tensor.set_data_from_numpy(batch(1))
        t.refused(
            "StatusCode.INVALID_ARGUMENT",
            "400",
            f"output 'logits' needs {CLASSES * 4} bytes but shared memory region '{name}' was given 16 for it",
            t.client.infer,
            "classifier",
            [tensor],
            outputs=[too_small],
        )
        beyond = t.module.InferInput("input", [1, 3, IMAGE, IMAGE], "FP32")
        beyond.set_shared_memory(name, 3 * IMAGE * IMAGE * 4)
        t.refused(
            "StatusCode.INVALID_ARGUMENT",
            "400",
            f"input 'input': offset 0 + byte size {3 * IMAGE * IMAGE * 4} is outside shared memory region '{name}'",
            t.client.infer,
            "classifier",
            [beyond],
        )
    t.refused(
        "StatusCode.NOT_FOUND",
        "404",
        f"shared memory key '/convzoo_none_{RUN}' does not exist",
        t.client.register_system_shared_memory,
        f"none_{RUN}",
        f"/convzoo_none_{RUN}",
        64,
    )
    t.refused(
        "StatusCode.INVALID_ARGUMENT",
        "400",
        "shared memory key '/etc/passwd' is not a POSIX shared memory name",
        t.client.register_system_shared_memory,
        f"etc_{RUN}",
        "/etc/passwd",
        64,
    )
    t.refused(
        "StatusCode.NOT_FOUND",
        "404",
        f"shared memory region 'gone_{RUN}' is not registered",
        t.client.unregister_system_shared_memory,
        f"gone_{RUN}",
    )
    unknown = t.module.InferInput("input", [1, 3, IMAGE, IMAGE], "FP32")
    unknown.set_shared_memory(f"gone_{RUN}", 3 * IMAGE * IMAGE * 4)
    t.refused(
        "StatusCode.NOT_FOUND",
        "404",
        f"input 'input': unknown shared memory region 'gone_{RUN}'",
        t.client.infer,
        "classifier",
        [unknown],
    )


def check_cuda_shared_memory_is_refused_in_one_line(t: Transport):
    t.refused(
        "StatusCode.UNIMPLEMENTED",
        "501",
        "convzoo does not implement CUDA shared memory; use system shared memory or send tensors in the request",
        t.client.register_cuda_shared_memory,
        f"cuda_{RUN}",
        base64.b64encode(b"not a CUDA IPC handle"),
        0,
        64,
    )
    status = (
        t.client.get_cuda_shared_memory_status(as_json=True)
        if t.kind == "grpc"
        else t.client.get_cuda_shared_memory_status()
    )
    assert status in ({}, []), status  # none registered: an empty answer, as Triton's
    t.client.unregister_cuda_shared_memory()  # unregistering all (perf_analyzer does it on exit) succeeds


def check_extension_is_listed(t: Transport):
    metadata = t.client.get_server_metadata(as_json=True) if t.kind == "grpc" else t.client.get_server_metadata()
    assert "system_shared_memory" in metadata["extensions"], metadata


def main(kind: str, url: str, name: str) -> int:
    transport = Transport(kind, url)
    try:
        globals()[f"check_{name}"](transport)
    finally:
        transport.client.close()
    print(f"ok {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
