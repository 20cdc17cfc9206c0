"""MLPerf's ``ROOT/val_map.txt``: one ``<file> <0-based label>`` per line, files relative to ROOT."""

from __future__ import annotations

from pathlib import Path

from convzoo.base.datasets.dataset import Dataset, sample
from convzoo.base.datasets.layout import Layout

NAME = "mlperf"
VAL_MAP = "val_map.txt"


class MLPerf(Layout):
    """MLPerf's val_map.txt: <file> <0-based label> per line."""

    order = 600

    def detect(self, root: Path) -> bool:
        return (root / VAL_MAP).is_file()

    def read(self, root: Path) -> Dataset:
        samples = []
        for line, text in enumerate((root / VAL_MAP).read_text().splitlines(), start=1):
            if not text.strip():
                continue
            parts = text.split()
            if len(parts) != 2 or not parts[1].isdigit():
                raise ValueError(f"{VAL_MAP}:{line}: expected '<file> <label>'")
            samples.append(sample(root, root / parts[0], int(parts[1])))
        return Dataset(NAME, root, tuple(samples), VAL_MAP)
