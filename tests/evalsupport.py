"""Shared builders for the evaluation tests: the synthetic model, drawn datasets, expectations.

Expectations come from the design of ``convzoo.plugins.synthetic`` (a solid image of the red
level of position p is ranked by distance to p), never from running the model.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import synthetic

from convzoo.base import imagenet
from convzoo.base.device import DeviceRequest
from convzoo.server import evaluation_service
from convzoo.server.app import ServerSettings, build
from convzoo.server.model import LoadOptions

# Labels of the first official validation files, so flat-file layouts use real labels too.
CLASSES = tuple(dict.fromkeys(imagenet.val_labels()[:60]))[:12]


def val_name(number: int, suffix: str = "JPEG") -> str:
    return f"ILSVRC2012_val_{number:08d}.{suffix}"


def wnid(index: int) -> str:
    return imagenet.classes()[index].wnid


def ranked(position: int) -> list[int]:
    """Class indices the model ranks for an image drawn at ``position``, best first."""
    order = sorted(range(len(CLASSES)), key=lambda i: (abs(i - position), i))
    return [CLASSES[i] for i in order]


@dataclass(frozen=True)
class Item:
    file: str  # relative to the dataset root
    label: int  # true class index
    drawn: int  # position in CLASSES whose red level is drawn
    kind: str = "rgb"


def draw(root: Path, items: list[Item]) -> None:
    for item in items:
        synthetic.draw(root / item.file, item.drawn, item.kind)


def accuracy(items: list[Item], k: int) -> float:
    """Expected top-k percent over the decodable items."""
    good = [i for i in items if i.kind != "corrupt"]
    return 100.0 * sum(i.label in ranked(i.drawn)[:k] for i in good) / len(good)


def model(path: Path, **kwargs) -> Path:
    return synthetic.build_model(path, CLASSES, **kwargs)


def meta_mat(path: Path, id_to_wnid: dict[int, str], parents: int = 3) -> None:
    """A devkit ``meta.mat``: struct array ``synsets`` with the real fields; leaves + a few parents."""
    fields = [
        "ILSVRC2012_ID",
        "WNID",
        "words",
        "gloss",
        "num_children",
        "children",
        "wordnet_height",
        "num_train_images",
    ]
    rows = [(i, w, "words", "gloss", 0, np.zeros((1, 0)), 0, 1300) for i, w in id_to_wnid.items()]
    top = max(id_to_wnid)
    rows += [(top + j + 1, f"n9999999{j}", "parent", "gloss", 2, np.array([[1, 2]]), 1, 0) for j in range(parents)]
    synsets = np.zeros((len(rows), 1), dtype=[(f, object) for f in fields])
    for n, values in enumerate(rows):
        for f, v in zip(fields, values):
            synsets[n, 0][f] = v
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(path, {"synsets": synsets})


def shuffled_ids(seed: int = 0) -> dict[int, str]:
    """ILSVRC2012_ID -> WNID for all 1000 leaves, in an order unlike sorted WNIDs."""
    wnids = [c.wnid for c in imagenet.classes()]
    order = np.random.default_rng(seed).permutation(len(wnids))
    return {n + 1: wnids[i] for n, i in enumerate(order)}


def convzoo(*argv) -> int:
    """Run the ``convzoo`` console command in this process; returns its exit code."""
    from convzoo.cli.commands import main

    return main([str(a) for a in argv])


def sweep(root: Path, capsys, *extra) -> tuple[int, str]:
    """``convzoo sweep`` of resnet18 at 32 px over ``root/val`` into ``root/repo`` and ``root/reports``; code and stdout."""
    code = convzoo(
        "sweep",
        "--archs",
        "resnet18",
        "--input-size",
        32,
        "--data",
        root / "val",
        "--repository",
        root / "repo",
        "--reports",
        root / "reports",
        "--plugins",
        "top1,top5",
        "--no-progress",
        *extra,
    )
    return code, capsys.readouterr().out


@contextmanager
def evaluation_server(repository: Path, datasets: list[tuple[str, Path]]) -> Iterator[str]:
    """A server in this process on a free port, on CPU, with the Evaluation service over ``datasets``; its address."""
    args = argparse.Namespace(dataset=datasets)
    running = build(
        repository,
        LoadOptions(device=DeviceRequest("cpu")),
        ServerSettings(port=0, metrics_port=None),
        lambda dataplane: [evaluation_service.create(args, dataplane)],
    )
    running.start()
    try:
        yield f"127.0.0.1:{running.port}"
    finally:
        running.stop(0)


# (label position, drawn position): 6 of 10 right at top-1, 9 of 10 within the top five.
PAIRS = [(0, 0), (1, 1), (2, 3), (4, 4), (5, 9), (6, 6), (7, 5), (8, 8), (10, 11), (11, 11)]


def pair_items(name) -> list[Item]:
    """``PAIRS`` as items named ``name(i, label)``."""
    return [Item(name(i, CLASSES[lp]), CLASSES[lp], dp) for i, (lp, dp) in enumerate(PAIRS)]


def flat_items(root_prefix: str = "") -> list[Item]:
    """Official validation files with their shipped labels, some drawn wrong on purpose."""
    labels = imagenet.val_labels()
    items = []
    for number in range(1, 11):
        position = CLASSES.index(labels[number - 1])
        drawn = position if number % 3 else (position + 1 + number % 2 * 3) % len(CLASSES)
        items.append(Item(root_prefix + val_name(number), labels[number - 1], drawn))
    return items
