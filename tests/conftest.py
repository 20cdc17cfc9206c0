"""Shared test fixtures."""

import pytest

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
