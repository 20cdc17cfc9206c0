"""Boundaries of ``convzoo serve``: it binds 127.0.0.1 by default (gRPC and metrics); with
``--tls-cert/--tls-key`` it speaks TLS only; with ``--auth-token-file`` every call but health
checks needs ``authorization: Bearer <token>``. Driven by our client, ``convzoo infer`` and
tritonclient (``ssl=True``, in its own process)."""

from __future__ import annotations

import io
import ipaddress
import json
import subprocess
import sys
from pathlib import Path

import grpc
import numpy as np
import pytest
from evalsupport import Item, convzoo, draw
from grpc_health.v1 import health_pb2, health_pb2_grpc
from PIL import Image
from server_repository import IMAGE, VENV_BIN, classifier_logits, run_serve, start_server, write_classifier

from convzoo.client.channel import Security, open_channel
from convzoo.client.inference import InferenceClient, InferenceServerError, build_request
from convzoo.proto import grpc_service_pb2 as pb
from convzoo.proto import grpc_service_pb2_grpc as pb_grpc
from convzoo.server.grpc.auth import REFUSAL

BATCH = np.ones((1, 3, IMAGE, IMAGE), np.float32)
TOKEN = "s3cret-token"
TRITON_TLS = """
import sys
import numpy as np
import tritonclient.grpc as grpcclient
from tritonclient.utils import InferenceServerException

url, ca, token = sys.argv[1:]
client = grpcclient.InferenceServerClient(url, ssl=True, root_certificates=ca)
data = np.ones((1, 3, 8, 8), np.float32)
tensor = grpcclient.InferInput("input", [1, 3, 8, 8], "FP32")
tensor.set_data_from_numpy(data)
print(client.infer("classifier", [tensor], headers={"authorization": f"Bearer {token}"}).as_numpy("logits").tolist())
try:
    client.infer("classifier", [tensor])
except InferenceServerException as error:
    print(error.status(), error.message())
"""


def listening_addresses(port: int) -> set:
    """Addresses of the sockets listening on ``port`` (IPv4-mapped IPv6 shown as IPv4), from /proc."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            hex_address, hex_port = local.split(":")
            if state == "0A" and int(hex_port, 16) == port:
                raw = bytes.fromhex(hex_address)  # 32-bit words in little-endian order
                address = ipaddress.ip_address(b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4)))
                found.add(getattr(address, "ipv4_mapped", None) or address)
    return found


@pytest.fixture(scope="module")
def repository(tmp_path_factory):
    root = tmp_path_factory.mktemp("repository")
    write_classifier(root / "classifier")
    return root


@pytest.fixture(scope="module")
def secrets(tmp_path_factory) -> dict[str, Path]:
    """A self-signed certificate for 127.0.0.1/localhost, its key, and a token file."""
    folder = tmp_path_factory.mktemp("secrets")
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-keyout",
            str(folder / "key.pem"),
            "-out",
            str(folder / "cert.pem"),
            "-days",
            "1",
            "-subj",
            "/CN=localhost",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    (folder / "token").write_text(TOKEN + "\n")
    (folder / "wrong").write_text("not-the-token\n")
    return {
        "cert": folder / "cert.pem",
        "key": folder / "key.pem",
        "token": folder / "token",
        "wrong": folder / "wrong",
    }


@pytest.fixture(scope="module")
def dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("data")
    draw(root, [Item(f"{i % 3}/{i}.jpeg", i % 3, i % 3) for i in range(6)])  # ImageNetV2 layout: classes 0-2
    return root


@pytest.fixture(scope="module")
def tls_server(repository, secrets, dataset):
    process = start_server(
        repository,
        "--tls-cert",
        str(secrets["cert"]),
        "--tls-key",
        str(secrets["key"]),
        "--auth-token-file",
        str(secrets["token"]),
        "--dataset",
        f"tiny={dataset}",
    )
    yield process
    assert process.stop() == 0


def test_binds_loopback_only_by_default(repository):
    process = start_server(repository)
    try:
        loopback = {ipaddress.ip_address("127.0.0.1")}
        assert listening_addresses(process.port) == loopback
        assert listening_addresses(process.metrics_port) == loopback
    finally:
        assert process.stop() == 0


def test_tls_and_token_serve_our_client(tls_server, secrets):
    security = Security(tls=True, ca=secrets["cert"].read_bytes(), token=TOKEN)
    with InferenceClient(tls_server.url, security=security) as client:
        np.testing.assert_array_equal(client.infer("classifier", BATCH), classifier_logits(BATCH))
    assert any("(TLS, bearer token)" in line for line in tls_server.log)


@pytest.mark.parametrize("token", [None, "not-the-token", TOKEN + "x", ""])
def test_calls_without_the_token_are_unauthenticated(tls_server, secrets, token):
    security = Security(tls=True, ca=secrets["cert"].read_bytes(), token=token)
    with InferenceClient(tls_server.url, security=security) as client:
        for call in (
            lambda: client.live(),
            lambda: client.infer_tensors("classifier", {"input": BATCH}),
            client.repository_index,
        ):
            with pytest.raises(InferenceServerError) as error:
                call()
            assert (error.value.code, error.value.message) == (grpc.StatusCode.UNAUTHENTICATED, REFUSAL)


def test_streams_without_the_token_are_unauthenticated(tls_server, secrets):
    with open_channel(tls_server.url, Security(tls=True, ca=secrets["cert"].read_bytes())) as channel:
        responses = pb_grpc.GRPCInferenceServiceStub(channel).ModelStreamInfer(
            iter([build_request("classifier", {"input": BATCH})])
        )
        with pytest.raises(grpc.RpcError) as error:
            list(responses)
    assert error.value.code() == grpc.StatusCode.UNAUTHENTICATED


@pytest.mark.parametrize("token", [None, TOKEN])
def test_shared_memory_calls_need_the_token(tls_server, secrets, token):
    with open_channel(tls_server.url, Security(tls=True, ca=secrets["cert"].read_bytes(), token=token)) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        register = pb.SystemSharedMemoryRegisterRequest(name="r", key="/convzoo_no_such_key", byte_size=8)
        for call, request in (
            (stub.SystemSharedMemoryStatus, pb.SystemSharedMemoryStatusRequest()),
            (stub.SystemSharedMemoryRegister, register),
            (stub.SystemSharedMemoryUnregister, pb.SystemSharedMemoryUnregisterRequest(name="r")),
        ):
            if token is None:
                with pytest.raises(grpc.RpcError) as error:
                    call(request, timeout=10)
                assert (error.value.code(), error.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, REFUSAL)
            elif call is stub.SystemSharedMemoryStatus:
                assert call(request, timeout=10).regions == {}
            else:  # past the token check: refused for what it asks
                with pytest.raises(grpc.RpcError) as error:
                    call(request, timeout=10)
                assert error.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize("token", [None, TOKEN])
def test_trace_settings_need_the_token(tls_server, secrets, token):
    with open_channel(tls_server.url, Security(tls=True, ca=secrets["cert"].read_bytes(), token=token)) as channel:
        stub = pb_grpc.GRPCInferenceServiceStub(channel)
        if token is None:
            with pytest.raises(grpc.RpcError) as error:
                stub.TraceSetting(pb.TraceSettingRequest(), timeout=10)
            assert (error.value.code(), error.value.details()) == (grpc.StatusCode.UNAUTHENTICATED, REFUSAL)
        else:
            assert list(stub.TraceSetting(pb.TraceSettingRequest(), timeout=10).settings["trace_level"].value) == [
                "OFF"
            ]


def test_health_checks_need_no_token(tls_server, secrets):
    with open_channel(tls_server.url, Security(tls=True, ca=secrets["cert"].read_bytes())) as channel:
        response = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    assert response.status == health_pb2.HealthCheckResponse.SERVING


def test_plaintext_clients_cannot_talk_to_a_tls_server(tls_server):
    with InferenceClient(tls_server.url, timeout=5, security=Security(token=TOKEN)) as client:
        with pytest.raises(InferenceServerError) as error:
            client.live()
    assert error.value.code == grpc.StatusCode.UNAVAILABLE


def test_infer_command_with_tls_and_token(tls_server, secrets, tmp_path):
    image = tmp_path / "image.png"
    buffer = io.BytesIO()
    Image.new("RGB", (16, 12), (200, 30, 90)).save(buffer, format="PNG")
    image.write_bytes(buffer.getvalue())
    base = [
        str(VENV_BIN / "convzoo"),
        "infer",
        "--server",
        tls_server.url,
        "--model",
        "classifier",
        "--top-k",
        "2",
        "--tls-ca",
        str(secrets["cert"]),
    ]
    good = subprocess.run(
        base + ["--auth-token-file", str(secrets["token"]), str(image)], capture_output=True, text=True, timeout=60
    )
    assert good.returncode == 0, good.stderr
    assert good.stdout.splitlines()[0] == str(image) and len(good.stdout.splitlines()) == 3
    bad = subprocess.run(
        base + ["--auth-token-file", str(secrets["wrong"]), str(image)], capture_output=True, text=True, timeout=60
    )
    assert (bad.returncode, bad.stderr) == (1, f"convzoo infer: error: UNAUTHENTICATED: {REFUSAL}\n")


def test_tritonclient_over_tls_with_the_token(tls_server, secrets):
    run = subprocess.run(
        [sys.executable, "-c", TRITON_TLS, tls_server.url, str(secrets["cert"]), TOKEN],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stderr
    logits, refusal = run.stdout.splitlines()
    np.testing.assert_array_equal(np.array(eval(logits), np.float32), classifier_logits(BATCH))
    assert refusal == f"StatusCode.UNAUTHENTICATED {REFUSAL}"


def test_token_without_tls_works_on_this_machine(repository, secrets):
    process = start_server(repository, "--auth-token-file", str(secrets["token"]))
    try:
        with InferenceClient(process.url, security=Security(token=TOKEN)) as client:
            np.testing.assert_array_equal(client.infer("classifier", BATCH), classifier_logits(BATCH))
        with InferenceClient(process.url) as client:
            with pytest.raises(InferenceServerError) as error:
                client.live()
        assert error.value.code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        assert process.stop() == 0


def test_eval_through_tls_and_token(tls_server, secrets, dataset, tmp_path, capsys):
    flags = [
        "--server",
        tls_server.url,
        "--model",
        "classifier",
        "--plugins",
        "top1",
        "--no-progress",
        "--tls-ca",
        secrets["cert"],
    ]
    token = ["--auth-token-file", secrets["token"]]
    assert convzoo("eval", *flags, *token, "--data", dataset, "--output", tmp_path / "grpc.json") == 0
    assert convzoo("eval", *flags, *token, "--remote", "--data", "tiny", "--output", tmp_path / "inside.json") == 0
    grpc_report, inside = (json.loads((tmp_path / f"{name}.json").read_text()) for name in ("grpc", "inside"))
    assert grpc_report["count"] == inside["count"] == 6 and grpc_report["metrics"] == inside["metrics"]
    capsys.readouterr()
    assert convzoo("eval", *flags, "--remote", "--data", "tiny") == 1
    assert f"UNAUTHENTICATED: {REFUSAL}" in capsys.readouterr().err


@pytest.mark.parametrize("problem", ["not PEM", "key of another certificate", "missing"])
def test_bad_certificates_stop_the_server_with_one_line(repository, secrets, tmp_path, problem):
    cert, key = secrets["cert"], tmp_path / "key.pem"
    if problem == "not PEM":
        key.write_text("garbage\n")
    elif problem == "key of another certificate":
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-out", str(key)],
            check=True,
            capture_output=True,
        )
    run = run_serve(repository, "--device", "cpu", "--tls-cert", str(cert), "--tls-key", str(key), timeout=60)
    expected = (
        f"cannot read --tls-cert {cert} or --tls-key {key}: No such file or directory"
        if problem == "missing"
        else f"--tls-cert {cert} and --tls-key {key} are not a PEM certificate chain and its key"
    )
    assert (run.returncode, run.stderr.splitlines()[-1]) == (1, f"convzoo serve: error: {expected}")
