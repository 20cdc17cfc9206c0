"""The benchmark suite runs end to end on a tiny model and writes well-formed JSON.
No timing is asserted: numbers on a shared machine are noise; the ratios are the product."""

from __future__ import annotations

import contextlib
import json
import math
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from benchmarks import peer_envs, perf_analyzer_tool, registry, venv_install  # noqa: E402
from benchmarks.cases import peers, serving  # noqa: E402
from benchmarks.context import Context  # noqa: E402
from benchmarks.measure import Figure, Target, rotate  # noqa: E402
from benchmarks.process_cost import Usage, thread_cpu  # noqa: E402
from convzoo.server.threads import usable_cpus  # noqa: E402

CASES = {"runtime", "serving", "batching", "pipeline", "efficiency", "memory", "precision"}


@pytest.mark.slow
def test_quick_suite_writes_every_case_and_raw_sample(tmp_path):
    output = tmp_path / "results.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--work-dir", str(tmp_path / "work"), "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "| case | figure |" in done.stdout and "| rest-work |" in done.stdout  # the serving case's thread table
    results = json.loads(output.read_text())
    assert {"date", "command", "settings", "machine", "versions", "providers", "case_seconds", "figures"} <= set(
        results
    )
    assert results["settings"]["quick"] is True
    assert "CPUExecutionProvider" in results["providers"]
    assert results["machine"]["cpus"] >= 1 and results["versions"]["onnxruntime-gpu"]
    assert {f["case"] for f in results["figures"]} == CASES == set(results["case_seconds"])
    for figure in results["figures"]:
        assert math.isfinite(figure["ratio"]) and figure["ratio"] > 0
        assert len(figure["samples"]) == len(figure["ratios"]) >= results["settings"]["rounds"]
        for sample in figure["samples"]:
            assert figure["key"] in sample["a"] and figure["key"] in sample["b"]
    assert any(f["target"] for f in results["figures"])
    served = next(f for f in results["figures"] if f["case"] == "serving")
    assert served["samples"][0]["a"]["latencies"]


def test_cases_are_selectable_by_name():
    assert [c.name for c in registry.select("memory,runtime")] == ["runtime", "memory"]
    assert {c.name for c in registry.select(None)} >= CASES
    with pytest.raises(ValueError, match="unknown benchmark case"):
        registry.select("runtime,nope")


def test_a_figure_is_the_median_of_per_round_ratios():
    pairs = [({"x": 3.0}, {"x": 1.0}), ({"x": 1.0}, {"x": 1.0}), ({"x": 4.0}, {"x": 2.0})]
    figure = Figure("case", "name", "a", "b", "x", pairs, Target(1.5))
    assert figure.ratios == [3.0, 1.0, 2.0] and figure.ratio == 2.0 and figure.met
    assert not Target(1.5, at_least=False).met(2.0)


def test_rotate_measures_every_side_each_round_in_a_rotating_order():
    order = []
    measures = {side: (lambda side=side: order.append(side) or {"x": len(order)}) for side in "abc"}
    taken = rotate(measures, 4)
    assert "".join(order) == "abc" + "bca" + "cab" + "abc"
    assert [m["x"] for m in taken["a"]] == [1, 6, 8, 10]


def test_the_peers_floor_is_the_cpu_of_the_run_alone_per_row(tmp_path):
    from server_repository import IMAGE, write_classifier

    write_classifier(tmp_path / "classifier")
    path = tmp_path / "classifier" / "1" / "model.onnx"
    one, eight = (peers.run_alone(path, 1, [rows, 3, IMAGE, IMAGE], 2, seconds=0.05) for rows in (1, 8))
    assert len(one) == len(eight) == 2
    assert all(0 < sample["cpu"] < 0.05 for sample in one + eight)


def test_the_peers_case_runs_only_when_named():
    (peers,) = registry.select("peers")
    assert not peers.default and "peers" not in {c.name for c in registry.select(None)}


# perf_analyzer 2.41.0's report of one concurrency, as it prints it against `convzoo serve`.
PERF_ANALYZER_REPORT = """Request concurrency: 1
  Client:
    Request count: 3478
    Throughput: 482.469 infer/sec
    p50 latency: 1897 usec
    p90 latency: 2667 usec
    p95 latency: 3129 usec
    p99 latency: 4484 usec
    Avg gRPC time: 2056 usec ((un)marshal request/response 6 usec + response wait 2050 usec)
  Server:
    Inference count: 3479
    Execution count: 3479
    Successful request count: 3479
    Avg request latency: 1424 usec (overhead 149 usec + queue 19 usec + compute input 12 usec + compute infer 1243 usec + compute output 0 usec)
"""


def test_perf_analyzer_reports_read_as_client_and_server_figures():
    figures = perf_analyzer_tool.parse(PERF_ANALYZER_REPORT)
    assert figures["items_per_s"] == 482.469
    assert (figures["p50"], figures["p99"]) == pytest.approx((1897e-6, 4484e-6))
    assert (figures["request"], figures["overhead"], figures["queue"]) == pytest.approx((1424e-6, 149e-6, 19e-6))
    assert figures["compute"] == pytest.approx((12 + 1243 + 0) * 1e-6)
    with pytest.raises(ValueError, match="server-side breakdown"):
        perf_analyzer_tool.parse(PERF_ANALYZER_REPORT.split("  Server:")[0])


def test_a_venv_that_cannot_be_made_is_refused_in_one_line_naming_packages_and_folder(tmp_path):
    (tmp_path / "peers").write_text("a file where the venvs' folder should be")
    venv = tmp_path / "peers" / "tool"
    failed = venv_install.install(venv, ["left-pad==1.0", "right-pad"])
    assert failed is not None and failed.startswith(f"cannot install left-pad==1.0 right-pad into {venv}: ")
    assert "\n" not in failed and not venv.exists()


@pytest.mark.slow
def test_the_perf_analyzer_case_reports_every_row_with_the_servers_breakdown(tmp_path):
    root = peer_envs.peers_dir(tmp_path)
    tool, note = perf_analyzer_tool.ensure(root)
    if tool is None:
        pytest.skip(f"perf_analyzer cannot be had here: {note}")
    output = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks", "--cases", "perf_analyzer", "--rounds", "1", "--seconds", "0.1"]
    done = subprocess.run(
        [*command, "--work-dir", str(tmp_path / "work"), "--output", str(output)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, peer_envs.PEERS_DIR_ENV: str(root)},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(output.read_text())["figures"]
    names = [f["name"] for f in figures]
    assert names[:4] == [
        f"{api}, tiny batch 1, {n} concurrent: server overhead / 100 µs" for api in ("gRPC", "HTTP") for n in (1, 8)
    ]
    assert [f["target"] for f in figures[:4]] == [{"value": 1.0, "at_least": False}, None, None, None]
    for figure in figures:
        (sample,) = figure["samples"]
        for measured in (sample["a"], sample["b"]) if figure["key"] == "transfer" else (sample["a"],):
            assert 0 < measured["overhead"] < measured["request"] and measured["compute"] > 0
            assert measured["p50"] <= measured["p99"] and measured["items_per_s"] > 0
    memory_rows = [line for line in done.stdout.splitlines() if "system shared memory" in line]
    large_rows = [line for line in done.stdout.splitlines() if line.startswith("| gRPC, pool224 batch 64, ")]
    assert len(large_rows) == 2 and "not run" not in large_rows[0]
    if len(figures) == 4:  # the server does not offer the extension: said in the table, not run
        assert len(memory_rows) == 5 and all("not run" in line for line in memory_rows)
    else:  # it does: the five rows run, in the breakdown; the large batch's pair makes one figure
        assert len(figures) == 9 and len(memory_rows) == 10
        assert not any("not run" in line for line in memory_rows)
        transfer = figures[8]
        assert transfer["name"].startswith("gRPC, pool224 batch 64 (38.5 MB), 1 concurrent: client p50 - server")
        assert transfer["key"] == "transfer" and transfer["target"] == {"value": 5.0, "at_least": True}
        (sample,) = transfer["samples"]
        for measured in (sample["a"], sample["b"]):
            assert measured["transfer"] == pytest.approx(measured["p50"] - measured["compute"])


BUSY_SERVER = """
import subprocess, sys, threading, time
child = subprocess.Popen([sys.executable, "-c", "import sys, time\\nend = time.process_time() + 0.3\\nwhile time.process_time() < end: pass\\nprint(flush=True)\\nsys.stdin.read()"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdout.readline()
ping, pong, done, never = threading.Event(), threading.Event(), threading.Semaphore(0), threading.Event()
def echo():
    for _ in range(200):
        ping.wait(); ping.clear(); pong.set()
    done.release(); never.wait()  # stays alive: a thread's counts leave /proc with it
def call():
    for _ in range(200):
        ping.set(); pong.wait(); pong.clear()
    done.release(); never.wait()
for target in (echo, call):  # the main thread only waits
    threading.Thread(target=target, daemon=True).start()
done.acquire(); done.acquire()
print(flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def ready(script: str) -> Iterator[int]:
    """The pid of a python running ``script``, once it prints a line; it ends when its stdin is closed."""
    process = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        process.stdout.readline()
        yield process.pid
    finally:
        process.stdin.close()
        process.wait(30)


def test_a_servers_usage_counts_its_children_cpu_and_every_threads_hand_offs():
    with ready(BUSY_SERVER) as pid:
        used = Usage.of(pid)
    assert used.cpu_seconds >= 0.25  # the child's busy loop
    assert used.voluntary_switches >= 200  # each round trip blocks one of the two threads at least once
    assert used.context_switches == used.voluntary_switches + used.involuntary_switches
    later = Usage(used.cpu_seconds + 1.5, used.voluntary_switches + 7, used.involuntary_switches + 2)
    assert later - used == Usage(1.5, 7, 2)


NAMED_BUSY_THREAD = """
import sys, threading, time
from convzoo.server.threads import name_os_thread
done, never = threading.Event(), threading.Event()
def burn():
    name_os_thread()
    end = time.thread_time() + 0.3
    while time.thread_time() < end:
        pass
    done.set()
    never.wait()  # stays alive: a thread's time leaves /proc with it
threading.Thread(target=burn, name="burner-7", daemon=True).start()
done.wait()
print(flush=True)
sys.stdin.read()
"""


def test_thread_cpu_reads_each_threads_own_time_under_its_os_name():
    with ready(NAMED_BUSY_THREAD) as pid:
        threads = thread_cpu(pid)
    (burner,) = [seconds for name, seconds in threads.values() if name == "burner-7"]
    assert burner >= 0.25
    assert pid in threads and threads[pid][1] < burner  # the main thread only waited
    groups = serving.thread_groups({(tid, name): seconds for tid, (name, seconds) in threads.items()})
    assert groups["burner"] == [round(burner, 3)] and next(iter(groups)) == "burner"  # busiest group first


def test_busy_threads_count_those_with_a_fifth_of_the_busiest_ones_time():
    assert serving.busy_threads([1.0, 0.2, 0.19, 0.0]) == 2
    assert serving.busy_threads([0.0, 0.0]) == serving.busy_threads([]) == 0


def test_the_rest_image_row_counts_busy_server_threads_against_the_usable_cores(tmp_path, capsys):
    every, rest = serving.rest_image_threads(Context(tmp_path, rounds=1, seconds=0.1, quick=True))
    assert every.pairs == rest.pairs and (every.key, rest.key) == ("threads", "rest_threads")
    assert every.target == rest.target == Target(1.0)
    ((measured, cores),) = every.pairs
    assert cores == {"threads": usable_cpus(), "rest_threads": usable_cpus()}
    assert 1 <= measured["rest_threads"] <= measured["threads"]
    assert measured["items_per_s"] > 0 and measured["cores_busy"] > 0
    by_name = every.extra["cpu_seconds_by_thread_name"]
    assert len(by_name["rest-work"]) == usable_cpus() and by_name["rest"]  # the REST pool and its loop
    table = capsys.readouterr().out
    assert "| rest-work |" in table and table.count(f"target ≥ {usable_cpus()} (usable cores)") == 2


@pytest.mark.slow
def test_the_tracing_case_traces_every_request_of_its_traced_samples(tmp_path):
    pytest.importorskip("opentelemetry.sdk", reason="the tracing extra is not installed")
    output = tmp_path / "results.json"
    command = [sys.executable, "-m", "benchmarks", "--cases", "tracing", "--quick", "--work-dir", str(tmp_path / "w")]
    done = subprocess.run([*command, "--output", str(output)], cwd=REPO, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    cpu, p50 = json.loads(output.read_text())["figures"]
    assert (cpu["key"], p50["key"]) == ("cpu", "p50") and cpu["a"].startswith("trace_rate 1")
    assert cpu["extra"]["spans_per_traced_request"] == [1.0] * len(cpu["ratios"])
    assert all(math.isfinite(r) and r > 0 for r in cpu["ratios"] + p50["ratios"])
