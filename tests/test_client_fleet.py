"""Fleet inference: one ``--server`` naming several replicas, balanced and retried by gRPC itself.

Three real ``convzoo serve`` processes; one is SIGKILLed while it holds a request of a running
evaluation, and the report still equals a single-server run's, sample for sample. Without a
replica to retry on, an evaluation stops at its last checkpoint (no batch skipped) and resumes.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
import urllib.request

import numpy as np
import pytest
from evalsupport import CLASSES, PAIRS, Item, accuracy, convzoo, draw, model, wnid
from server_repository import start_server

from convzoo.client import fleet
from convzoo.client.channel import Security
from convzoo.client.inference import InferenceClient

# 100 images in batches of 30: a request of 30 x 3 x 28 x 28 floats (282 KiB) is larger than
# gRPC's default per-call retry buffer (256 KiB), so only a fleet channel can replay it. Each
# request waits 0.4 s in the server's batching queue (preferred size 64 is never reached),
# which keeps it in flight long enough to be caught and killed with its replica.
ITEMS = [Item(f"{wnid(CLASSES[lp])}/{n}.JPEG", CLASSES[lp], dp) for n, (lp, dp) in enumerate(PAIRS * 10)]
BATCH = 30
PLUGINS = "top1,top5,per_class,confusion,calibration"  # all but latency, which is timing
SLOW_QUEUE = ("--max-queue-delay-us", "400000", "--max-batch-size", "64", "--preferred-batch-size", "64")
PENDING = re.compile(r'^nv_inference_pending_request_count\{model="synthetic",version="1"\} (\S+)$', re.M)
SUCCESSES = re.compile(r'^nv_inference_request_success\{model="synthetic",version="1"\} (\S+)$', re.M)


def test_a_list_becomes_a_balanced_retried_ipv4_target():
    target = fleet.parse("127.0.0.1:8001, localhost:8002")
    assert target.uri == "ipv4:127.0.0.1:8001,127.0.0.1:8002" and target.fleet
    assert target.authority == "127.0.0.1:8001"
    options = dict(fleet.channel_options(target, 1 << 20))
    config = json.loads(options["grpc.service_config"])
    assert config["loadBalancingConfig"] == [{"round_robin": {}}]
    assert config["methodConfig"][0]["retryPolicy"]["retryableStatusCodes"] == ["UNAVAILABLE"]
    assert options["grpc.per_rpc_retry_buffer_size"] == 1 << 20  # a whole request can be replayed
    assert fleet.parse("[::1]:8001,[::1]:8002").uri == "ipv6:[::1]:8001,[::1]:8002"


def test_one_server_stays_a_plain_channel_and_dns_names_are_left_to_grpc():
    assert fleet.parse("127.0.0.1:8001") == fleet.Target("127.0.0.1:8001")
    assert fleet.channel_options(fleet.parse("models.example:8001"), 1) == []
    dns = fleet.parse("dns:///convzoo-replicas.models.svc.cluster.local:8001")
    assert dns.fleet and dns.uri == "dns:///convzoo-replicas.models.svc.cluster.local:8001"


@pytest.mark.parametrize(
    "server, message",
    [
        ("127.0.0.1:8001,", "empty endpoint"),
        ("127.0.0.1:8001,127.0.0.1", "expected HOST:PORT, got '127.0.0.1'"),
        ("127.0.0.1:8001,127.0.0.1:99999", "expected HOST:PORT"),
        ("127.0.0.1:8001,no-such-host.invalid:8001", "cannot resolve 'no-such-host.invalid'"),
        ("127.0.0.1:8001,[::1]:8001", "share no address family"),
    ],
)
def test_bad_lists_are_refused_in_one_line(server, message, cli):
    with pytest.raises(ValueError, match=re.escape(message)):
        fleet.parse(server)
    code, _, err = cli("plugins", "--server", server)
    assert code == 1 and err.startswith("convzoo plugins: error: --server: ") and err.count("\n") == 1


def metric(server, pattern: re.Pattern) -> float:
    text = urllib.request.urlopen(f"http://127.0.0.1:{server.metrics_port}/metrics", timeout=5).read().decode()
    found = pattern.search(text)
    return float(found.group(1)) if found else 0.0


def served_by_all(client: InferenceClient, servers, calls: int = 200) -> bool:
    """Infer until every replica has answered at least once (replicas join as they connect)."""
    before = [metric(server, SUCCESSES) for server in servers]
    for _ in range(calls):
        client.infer_tensors("synthetic", {"input": np.zeros((1, 3, 28, 28), np.float32)})
        if all(metric(server, SUCCESSES) > b for server, b in zip(servers, before)):
            return True
    return False


def test_tls_checks_the_first_listed_name_on_every_replica(tmp_path):
    """The list is dialled by address; TLS verifies each replica against the first endpoint's host."""
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        + ["-keyout", str(tmp_path / "key.pem"), "-out", str(tmp_path / "cert.pem"), "-days", "1"]
        + ["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"],  # a name only: no IP
        check=True,
        capture_output=True,
    )
    model(tmp_path / "repo" / "synthetic" / "1" / "model.onnx")
    tls = ("--tls-cert", str(tmp_path / "cert.pem"), "--tls-key", str(tmp_path / "key.pem"))
    servers = [start_server(tmp_path / "repo", *tls) for _ in range(2)]
    try:
        security = Security(tls=True, ca=(tmp_path / "cert.pem").read_bytes())
        with InferenceClient(",".join(f"localhost:{s.port}" for s in servers), security=security) as client:
            assert served_by_all(client, servers)
    finally:
        for server in servers:
            server.stop()


@pytest.fixture(scope="module")
def replicas(tmp_path_factory):
    root = tmp_path_factory.mktemp("fleet")
    draw(root / "data", ITEMS)
    model(root / "repo" / "synthetic" / "1" / "model.onnx")
    servers = []
    try:
        for _ in range(3):
            servers.append(start_server(root / "repo", *SLOW_QUEUE, "--dataset", f"tiny={root / 'data'}"))
        yield root, servers
    finally:
        for server in servers:
            server.stop()


def fleet_of(servers) -> str:
    return ",".join(server.url for server in servers)


def test_requests_are_spread_over_every_replica(replicas):
    _, servers = replicas
    with InferenceClient(fleet_of(servers)) as client:
        assert served_by_all(client, servers)


def test_a_dns_target_is_dialled_through_the_fleet_channel(replicas):
    _, servers = replicas
    with InferenceClient(f"dns:///localhost:{servers[0].port}") as client:
        assert served_by_all(client, servers[:1])


def test_infer_and_plugins_take_a_list(replicas, tmp_path, cli):
    root, servers = replicas
    image = root / "data" / ITEMS[0].file
    code, out, err = cli("infer", "--server", fleet_of(servers), "--model", "synthetic", "--top-k", "1", image)
    assert code == 0, err
    assert out.splitlines()[0] == str(image) and f" {ITEMS[0].label:>4} " in out.splitlines()[1]
    code, out, err = cli("plugins", "--server", fleet_of(servers))
    assert code == 0, err
    assert f"dataset tiny: imagefolder, {len(ITEMS)} images" in out


def test_a_replica_killed_mid_evaluation_costs_no_sample(replicas, tmp_path):
    root, servers = replicas

    def evaluate(name: str, server: str) -> tuple[dict, str]:
        report, predictions = tmp_path / f"{name}.json", tmp_path / f"{name}.csv"
        flags = ["--model", "synthetic", "--data", root / "data", "--batch-size", BATCH, "--plugins", PLUGINS]
        outputs = ["--output", report, "--predictions", predictions, "--no-progress"]
        assert convzoo("eval", "--server", server, *flags, *outputs) == 0
        return json.loads(report.read_text()), predictions.read_text()

    single, single_predictions = evaluate("single", servers[0].url)

    outcome: dict = {}
    run = threading.Thread(target=lambda: outcome.update(result=evaluate("fleet", fleet_of(servers))))
    served = sum(metric(server, SUCCESSES) for server in servers)
    run.start()
    victim = None
    while victim is None:  # once a batch is done, wait until a replica holds the next one; kill it with it
        assert run.is_alive(), "the evaluation ended before a replica could be killed"
        if sum(metric(server, SUCCESSES) for server in servers) > served:
            victim = next((s for s in servers if metric(s, PENDING) >= 1), None)
        time.sleep(0.02)
    victim.process.kill()
    assert victim.wait() == -9
    run.join(120)
    assert not run.is_alive() and "result" in outcome, "the fleet evaluation failed"
    report, predictions = outcome["result"]
    assert report["metrics"] == single["metrics"]
    assert report["metrics"]["top1"] == accuracy(ITEMS, 1) and report["count"] == single["count"] == len(ITEMS)
    assert predictions == single_predictions  # every sample, the same top five
    assert report["runtime"]["server"] == fleet_of(servers)


def test_an_evaluation_that_loses_its_server_stops_and_resumes_to_the_same_report(replicas, tmp_path):
    """A batch whose inference fails is never skipped: the run stops at the last checkpoint."""
    root, _ = replicas
    flags = ["--model", "synthetic", "--data", root / "data", "--batch-size", BATCH, "--plugins", PLUGINS]
    report = tmp_path / "report.json"
    lone = start_server(root / "repo", *SLOW_QUEUE)
    outcome: dict = {}
    command = ["eval", "--server", lone.url, *flags, "--output", report, "--checkpoint-every", "1", "--no-progress"]
    run = threading.Thread(target=lambda: outcome.update(code=convzoo(*command)))
    run.start()
    while metric(lone, SUCCESSES) < 1 or metric(lone, PENDING) < 1:  # one batch done, the next one queued
        assert run.is_alive(), "the evaluation ended before its server could be killed"
        time.sleep(0.02)
    lone.process.kill()
    lone.wait()
    run.join(120)
    checkpoint = json.loads((tmp_path / "report.json.checkpoint.json").read_text())
    assert outcome["code"] == 1 and not report.exists()
    assert checkpoint["position"] == checkpoint["evaluated"] and checkpoint["position"] % BATCH == 0
    assert 0 < checkpoint["position"] < len(ITEMS)
    again = start_server(root / "repo", *SLOW_QUEUE, "--port", str(lone.port))  # the same address
    try:
        assert convzoo(*command, "--resume") == 0
        resumed = json.loads(report.read_text())
        assert convzoo("eval", "--server", again.url, *flags, "--output", tmp_path / "whole.json", "--no-progress") == 0
    finally:
        again.stop()
    whole = json.loads((tmp_path / "whole.json").read_text())
    assert resumed["metrics"] == whole["metrics"] and resumed["count"] == whole["count"] == len(ITEMS)
