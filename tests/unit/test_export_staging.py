"""An exported model's folder gets the permissions mkdir would give it, not the staging folder's 0700:
a server running as another user (the serving image runs as uid 1000) reads the repository."""

from __future__ import annotations

import os
import stat

from convzoo.exporters.repository import Staging


def test_the_installed_model_folder_has_mkdirs_mode(tmp_path):
    previous = os.umask(0o022)
    try:
        with Staging(tmp_path, "tiny", 1) as staging:
            staging.model_path.write_bytes(b"model")
            staging.write_text("config.pbtxt", 'name: "tiny"\n')
            installed = staging.install(force=False)
    finally:
        os.umask(previous)
    assert stat.S_IMODE((tmp_path / "tiny").stat().st_mode) == 0o755
    assert stat.S_IMODE(installed.parent.stat().st_mode) == 0o755
    assert not list(tmp_path.glob(".convzoo-staging-*"))
