"""Weights: seeded random, .pth files, and official checkpoints downloaded over HTTP."""

import hashlib
import http.server
import threading

import numpy as np
import onnxruntime
import pytest
import torch
from torch import nn

from convzoo.base.card import read_card
from convzoo.exporters import registry
from convzoo.exporters.activations import get_activation
from convzoo.exporters.pipeline import export_model
from convzoo.exporters.registry import PretrainedWeights, get_architecture, register_model
from convzoo.exporters.weights import BASE_URL_ENV, checkpoint_url, read_checkpoint


def logits(path, x):
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return session.run(["logits"], {"input": x})[0]


def small_resnet18(tmp_path, seed, num_classes=10, activation="relu", name="ckpt.pth"):
    torch.manual_seed(seed)
    model = get_architecture("resnet18").build(num_classes, get_activation(activation))
    path = tmp_path / name
    torch.save(model.state_dict(), path)
    return model.eval(), path


def test_a_pth_checkpoint_is_loaded_and_recorded(tmp_path):
    model, path = small_resnet18(tmp_path, seed=7)
    result = export_model("resnet18", tmp_path / "repo", weights=str(path), num_classes=10, input_size=32, seed=0)
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32), dtype=np.float32)
    with torch.inference_mode():
        want = model(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(logits(result.path, x), want, atol=1e-4)
    card = read_card(result.path)["weights"]
    assert card == {"source": str(path), "sha256": hashlib.sha256(path.read_bytes()).hexdigest()}


@pytest.mark.parametrize("wrap", ["state_dict", "model"])
def test_a_state_dict_inside_a_training_checkpoint_is_found(tmp_path, wrap):
    state = {"fc.weight": torch.ones(2, 3)}
    torch.save({wrap: state, "epoch": 3}, tmp_path / "c.pth")
    assert list(read_checkpoint(tmp_path / "c.pth")) == ["fc.weight"]


def test_relu_weights_into_a_prelu_model_name_the_missing_keys(tmp_path, cli):
    _, path = small_resnet18(tmp_path, seed=1)
    with torch.device("meta"):
        prelu_keys = set(get_architecture("resnet18").build(10, get_activation("prelu")).state_dict())
    missing = sorted(prelu_keys - set(torch.load(path, weights_only=True)))
    assert len(missing) == 17  # one slope tensor per activation site
    code, _, err = cli(
        "export",
        "resnet18",
        "--activation",
        "prelu",
        "--weights",
        path,
        "--num-classes",
        10,
        "--input-size",
        32,
        "--repository",
        tmp_path / "repo",
    )
    assert code == 1 and len(err.strip().splitlines()) == 1
    listed = err.split("missing keys: ")[1].strip().split(", ")
    assert sorted(listed) == missing and "unexpected" not in err
    assert not (tmp_path / "repo").exists()


def test_prelu_weights_into_a_relu_model_name_the_unexpected_keys(tmp_path):
    _, path = small_resnet18(tmp_path, seed=1, activation="prelu")
    with pytest.raises(ValueError, match=r"unexpected keys: act\.weight, layer1\.0\.act1\.weight, "):
        export_model("resnet18", tmp_path / "repo", weights=str(path), num_classes=10, input_size=32)


def test_wrong_shapes_are_named(tmp_path, cli):
    _, path = small_resnet18(tmp_path, seed=1)
    code, _, err = cli("export", "resnet18", "--weights", path, "--input-size", 32, "--repository", tmp_path / "repo")
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "fc.weight: checkpoint [10, 512] vs model [1000, 512]; fc.bias: checkpoint [10] vs model [1000]" in err


@pytest.mark.parametrize("content", [b"", b"not a pickle at all", b"PK\x03\x04 truncated zip"])
def test_a_corrupt_checkpoint_is_one_line(tmp_path, content, cli):
    (tmp_path / "bad.pth").write_bytes(content)
    code, _, err = cli(
        "export", "resnet18", "--weights", tmp_path / "bad.pth", "--input-size", 32, "--repository", tmp_path / "repo"
    )
    assert code == 1 and "cannot read checkpoint" in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "repo").exists()


def test_a_checkpoint_that_is_no_state_dict_is_refused(tmp_path):
    torch.save([torch.ones(1)], tmp_path / "list.pth")
    with pytest.raises(ValueError, match="holds no state_dict"):
        read_checkpoint(tmp_path / "list.pth")


def test_official_names_resolve_to_torchvision_urls(monkeypatch):
    resnet50 = get_architecture("resnet50")
    assert resnet50.pretrained("IMAGENET1K_V1").url == "https://download.pytorch.org/models/resnet50-0676ba61.pth"
    assert resnet50.pretrained("DEFAULT") == resnet50.pretrained("IMAGENET1K_V2")
    assert resnet50.pretrained("DEFAULT").file_name == "resnet50-11ad3fa6.pth"
    assert resnet50.pretrained("DEFAULT").resize_size == 232
    assert get_architecture("alexnet").pretrained("DEFAULT").file_name == "alexnet-owt-7be5be79.pth"
    assert get_architecture("vgg16").pretrained("IMAGENET1K_V1").file_name == "vgg16-397923af.pth"
    with pytest.raises(LookupError, match="alexnet has no official weights 'IMAGENET1K_V2'"):
        get_architecture("alexnet").pretrained("IMAGENET1K_V2")
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9/mirror/")
    assert checkpoint_url(resnet50.pretrained("IMAGENET1K_V1")) == "http://127.0.0.1:9/mirror/resnet50-0676ba61.pth"


# --- downloads from a real HTTP server on 127.0.0.1 ---------------------------------------


class TinyNet(nn.Sequential):
    def __init__(self, num_classes, activation):
        super().__init__(
            nn.Conv2d(3, 8, 3, padding=1),
            activation.module(8),
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Linear(8, num_classes),
        )


def tinynet(*, num_classes=1000, activation="relu"):
    return TinyNet(num_classes, get_activation(activation))


@pytest.fixture
def server(tmp_path):
    """Serves ``tmp_path/www`` on 127.0.0.1 and records the requested paths."""
    root = tmp_path / "www"
    root.mkdir()
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(root), **kwargs)

        def log_message(self, *args):
            requests.append(self.path)

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{httpd.server_address[1]}", requests
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def tiny_official(tmp_path, monkeypatch, server):
    """A third-party architecture ``tinynet`` whose official checkpoint lives on the test server."""
    root, base, requests = server
    torch.manual_seed(11)
    model = TinyNet(1000, get_activation("relu"))
    blob = tmp_path / "blob.pth"
    torch.save(model.state_dict(), blob)
    data = blob.read_bytes()
    file_name = f"tinynet-{hashlib.sha256(data).hexdigest()[:8]}.pth"
    (root / file_name).write_bytes(data)
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry.architectures()))
    weights = {"IMAGENET1K_V1": PretrainedWeights(f"https://download.pytorch.org/models/{file_name}", 1.0, 5.0)}
    register_model(weights=weights)(tinynet)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    monkeypatch.setenv(BASE_URL_ENV, base)
    cache = tmp_path / "torch-home" / "hub" / "checkpoints"
    return model.eval(), root, file_name, cache, requests, data


def test_an_official_checkpoint_downloads_verifies_and_is_reused(tmp_path, tiny_official, capsys):
    model, _, file_name, cache, requests, data = tiny_official
    result = export_model("tinynet", tmp_path / "repo", weights="DEFAULT", input_size=16)
    assert requests == [f"/{file_name}"]
    assert sorted(p.name for p in cache.iterdir()) == [file_name]
    assert "tinynet-" in capsys.readouterr().err  # the progress bar
    card = read_card(result.path)["weights"]
    assert card["source"] == "IMAGENET1K_V1" and card["sha256"] == hashlib.sha256(data).hexdigest()
    assert card["file"] == file_name and card["published"] == {"acc@1": 1.0, "acc@5": 5.0}
    x = np.random.default_rng(0).standard_normal((2, 3, 16, 16), dtype=np.float32)
    with torch.inference_mode():
        np.testing.assert_allclose(logits(result.path, x), model(torch.from_numpy(x)).numpy(), atol=1e-5)
    export_model("tinynet", tmp_path / "repo", weights="IMAGENET1K_V1", input_size=16, version=2)
    assert requests == [f"/{file_name}"]  # the cached file was reused


def test_a_corrupt_download_is_rejected_and_not_cached(tmp_path, tiny_official, cli):
    _, root, file_name, cache, requests, data = tiny_official
    (root / file_name).write_bytes(data[:-10] + b"0123456789")
    code, _, err = cli(
        "export", "tinynet", "--weights", "IMAGENET1K_V1", "--input-size", 16, "--repository", tmp_path / "repo"
    )
    progress, _, error = err.rstrip("\n").rpartition("\n")
    assert code == 1 and error.startswith("convzoo export: error: download of http://127.0.0.1:")
    assert "is corrupt" in error and file_name in error and "100%" in progress
    assert list(cache.iterdir()) == []  # neither the file nor a partial download
    assert not (tmp_path / "repo").exists()
    # A corrupt file already in the cache is replaced by a good download.
    (root / file_name).write_bytes(data)
    (cache / file_name).write_bytes(b"garbage")
    export_model("tinynet", tmp_path / "repo", weights="IMAGENET1K_V1", input_size=16)
    assert (cache / file_name).read_bytes() == data


def test_offline_is_one_clear_line(tmp_path, tiny_official, monkeypatch, cli):
    monkeypatch.setenv(BASE_URL_ENV, "http://127.0.0.1:9")  # discard port: nothing listens
    code, _, err = cli(
        "export", "tinynet", "--weights", "DEFAULT", "--input-size", 16, "--repository", tmp_path / "repo"
    )
    assert code == 1 and len(err.strip().splitlines()) == 1
    assert "cannot download http://127.0.0.1:9/tinynet-" in err and "offline?" in err


def test_official_weights_keep_the_1000_class_head(tmp_path, tiny_official):
    with pytest.raises(ValueError, match="1000-class head"):
        export_model("tinynet", tmp_path / "repo", weights="DEFAULT", input_size=16, num_classes=10)
