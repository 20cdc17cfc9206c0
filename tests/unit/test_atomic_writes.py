"""Reports and checkpoints are replaced atomically and get the permissions an ordinary write would."""

from __future__ import annotations

import os

from convzoo.base import atomic


def test_a_new_file_gets_the_umask_mode_not_mkstemps_0600(tmp_path):
    previous = os.umask(0o027)
    try:
        atomic.write_json(tmp_path / "report.json", {"top1": 1.0})
    finally:
        os.umask(previous)
    assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o640
    assert (tmp_path / "report.json").read_text() == '{\n  "top1": 1.0\n}\n'


def test_a_replaced_file_keeps_its_mode_and_no_temporary_is_left(tmp_path):
    path = tmp_path / "report.json"
    path.write_text("old\n")
    path.chmod(0o604)
    atomic.write_text(path, "new\n")
    assert path.stat().st_mode & 0o777 == 0o604 and path.read_text() == "new\n"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]
