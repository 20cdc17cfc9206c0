"""Shared test fixtures."""

from pathlib import Path

import pytest
from server_repository import build_repository, start_server

from convzoo.cli.commands import main

pytest_plugins = ["browser"]  # the headless Chromium fixtures of the web page tests


@pytest.fixture
def cli(capsys):
    """Run the real ``convzoo`` dispatcher in this process: returns (exit code, stdout, stderr)."""

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture(scope="session")
def serve():
    """Factory: ``serve(repository, *args)`` starts ``convzoo serve`` on free 127.0.0.1 ports and
    returns once it logs that it is ready (``server_repository.start_server``). Asking again for
    the same repository and arguments returns the same running server; every server is stopped
    (SIGTERM, graceful drain, exit code 0) at the end of the session."""
    servers = {}

    def start(repository: Path, *args: str):
        key = (str(repository), *args)
        if key not in servers or servers[key].process.poll() is not None:
            servers[key] = start_server(repository, *args)
        return servers[key]

    yield start
    codes = {key: server.stop() for key, server in servers.items()}
    assert all(code == 0 for code in codes.values()), codes


@pytest.fixture(scope="session")
def served_repository(tmp_path_factory) -> Path:
    """The repository of every model kind (``server_repository.build_repository``), built once."""
    return build_repository(tmp_path_factory.mktemp("repository"))


@pytest.fixture(scope="session")
def repository_server(serve, served_repository):
    """One ``convzoo serve`` of ``served_repository`` with default options, shared by the modules
    that only need it running (they leave the repository as they found it)."""
    return serve(served_repository)


# Registered in pyproject.toml ([tool.pytest.ini_options] markers).
def pytest_collection_modifyitems(config, items):
    """``gpu`` tests run only where ONNX Runtime really runs on CUDA."""
    gpu = [item for item in items if "gpu" in item.keywords]
    if not gpu:
        return
    from convzoo.base.device import DeviceRequest

    if DeviceRequest.parse("auto").resolve_auto().kind != "cuda":
        skip = pytest.mark.skip(reason="needs a CUDA device ONNX Runtime can use")
        for item in gpu:
            item.add_marker(skip)
