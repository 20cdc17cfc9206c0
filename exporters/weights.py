"""Where a model's weights come from: seeded random, a ``.pth`` file, or an official checkpoint.

Official checkpoints download from their torchvision URL into the torch hub cache
(``$TORCH_HOME/hub/checkpoints``), with a progress bar. Their file names carry the first
hex digits of their sha256 (``resnet50-0676ba61.pth``); a download or cached file whose
digest does not match is rejected and removed. ``CONVZOO_WEIGHTS_BASE_URL`` replaces
``https://download.pytorch.org/models`` (a mirror, or a test server).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import re
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from convzoo.exporters.registry import Architecture, PretrainedWeights

BASE_URL_ENV = "CONVZOO_WEIGHTS_BASE_URL"
OFFICIAL_TAGS = ("IMAGENET1K_V1", "IMAGENET1K_V2", "DEFAULT")
_HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")
_CHUNK = 1 << 20


@dataclass(frozen=True)
class Weights:
    """Resolved weights: a state_dict (``None`` for random) and where it came from."""

    source: str  # "random", a checkpoint path, or an official tag such as "IMAGENET1K_V2"
    state_dict: dict | None = None
    sha256: str | None = None
    seed: int | None = None
    pretrained: PretrainedWeights | None = None

    def describe(self) -> dict:
        """JSON-able provenance for the model card."""
        info: dict = {"source": self.source, "sha256": self.sha256}
        if self.seed is not None:
            info["seed"] = self.seed
        if self.pretrained is not None:
            info.update(
                url=self.pretrained.url,
                file=self.pretrained.file_name,
                published={"acc@1": self.pretrained.acc1, "acc@5": self.pretrained.acc5},
            )
        return info


def resolve_weights(spec: str, arch: Architecture, seed: int = 0, progress: bool = True) -> Weights:
    """Turn ``--weights`` (``random``, an official tag, or a path) into :class:`Weights`."""
    if spec == "random":
        return Weights("random", seed=seed)
    if spec in OFFICIAL_TAGS:
        pretrained = arch.pretrained(spec)
        path = download_checkpoint(pretrained, progress)
        tag = arch.default_weights if spec == "DEFAULT" else spec
        return Weights(tag, read_checkpoint(path), sha256_of(path), pretrained=pretrained)
    path = Path(spec)
    if not path.is_file():
        raise FileNotFoundError(
            f"checkpoint not found: {spec} (expected random, {', '.join(OFFICIAL_TAGS)} or a .pth file)"
        )
    return Weights(str(path), read_checkpoint(path), sha256_of(path))


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checkpoint_url(pretrained: PretrainedWeights) -> str:
    """The official URL, or the same file under ``$CONVZOO_WEIGHTS_BASE_URL``."""
    base = os.environ.get(BASE_URL_ENV)
    return f"{base.rstrip('/')}/{pretrained.file_name}" if base else pretrained.url


def checkpoints_dir() -> Path:
    """The torch hub checkpoint cache: ``$TORCH_HOME/hub/checkpoints``."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def download_checkpoint(pretrained: PretrainedWeights, progress: bool = True) -> Path:
    """The cached checkpoint file, downloading and verifying it first if needed."""
    target = checkpoints_dir() / pretrained.file_name
    match = _HASH_IN_NAME.search(pretrained.file_name)
    prefix = match.group(1) if match else None
    if target.is_file():
        if prefix is None or sha256_of(target).startswith(prefix):
            return target
        target.unlink()  # a corrupt cached file: fetch it again
    target.parent.mkdir(parents=True, exist_ok=True)
    url = checkpoint_url(pretrained)
    fd, partial = tempfile.mkstemp(dir=target.parent, prefix=f".{pretrained.file_name}.", suffix=".partial")
    try:
        with os.fdopen(fd, "wb") as out:
            digest = _fetch(url, out, progress)
        if prefix is not None and not digest.startswith(prefix):
            raise ValueError(
                f"download of {url} is corrupt: sha256 {digest[:16]}... does not start with {prefix}; discarded it"
            )
        os.replace(partial, target)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return target


def _fetch(url: str, out, progress: bool) -> str:
    from tqdm import tqdm

    digest = hashlib.sha256()
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            total = int(response.headers.get("Content-Length") or 0) or None
            with tqdm(
                total=total,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                disable=not progress,
                desc=url.rsplit("/", 1)[-1],
            ) as bar:
                while chunk := response.read(_CHUNK):
                    out.write(chunk)
                    digest.update(chunk)
                    bar.update(len(chunk))
    except urllib.error.HTTPError as exc:
        raise OSError(f"cannot download {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise OSError(f"cannot download {url}: {reason} (offline? put the file into {checkpoints_dir()})") from None
    return digest.hexdigest()


def read_checkpoint(path: Path | str) -> dict:
    """A state_dict from a ``.pth`` file (or from its ``state_dict``/``model`` entry)."""
    try:
        data = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # any failure to unpickle a user's file is a bad checkpoint
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"cannot read checkpoint {path}: {first_line}") from None
    if isinstance(data, dict):
        for key in ("state_dict", "model"):
            if isinstance(data.get(key), dict):
                data = data[key]
                break
    if not isinstance(data, dict) or not data or not all(isinstance(v, torch.Tensor) for v in data.values()):
        raise ValueError(f"checkpoint {path} holds no state_dict (a dict of tensor names to tensors)")
    return data


def apply_weights(model: nn.Module, state_dict: dict, what: str) -> None:
    """Load ``state_dict`` strictly; a mismatch names every missing/unexpected key or shape."""
    own = model.state_dict()
    shapes = [
        f"{k}: checkpoint {list(v.shape)} vs model {list(own[k].shape)}"
        for k, v in state_dict.items()
        if k in own and v.shape != own[k].shape
    ]
    if shapes:
        raise ValueError(f"checkpoint shapes do not match {what}: {'; '.join(shapes)}")
    result = model.load_state_dict(state_dict, strict=False)
    problems = []
    if result.missing_keys:
        problems.append(f"missing keys: {', '.join(result.missing_keys)}")
    if result.unexpected_keys:
        problems.append(f"unexpected keys: {', '.join(result.unexpected_keys)}")
    if problems:
        raise ValueError(f"checkpoint does not fit {what}: {'; '.join(problems)}")
