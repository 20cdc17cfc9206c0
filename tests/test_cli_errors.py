"""What a new user gets wrong ends with one line on stderr and exit code 1, naming the file:
a model that is not ONNX (or is truncated), a weights file that is not a checkpoint, a
repository that is not a folder, an image that is not an image, a report that is not JSON."""

from __future__ import annotations

import io

import pytest
from evalsupport import CLASSES, Item, draw, model, wnid
from PIL import Image
from server_repository import run_serve

from convzoo.base.preprocessing import decode_image


def the_error_line(result: tuple[int, str, str], command: str) -> str:
    """From (exit code, stdout, stderr): the only line on stderr, once checked to be
    ``convzoo COMMAND: error: ...`` with exit code 1."""
    code, _, err = result
    lines = err.strip().splitlines()
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith(f"convzoo {command}: error: "), err
    return lines[0].removeprefix(f"convzoo {command}: error: ")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    draw(root, [Item(f"{wnid(CLASSES[i])}/{i}.JPEG", CLASSES[i], i) for i in range(4)])
    return root


def evaluate(cli, data, onnx_file, *extra):
    return cli(
        "eval", "--data", data, "--model", onnx_file, "--device", "cpu", "--no-progress", "--workers", "0", *extra
    )


def test_eval_of_a_text_file_names_it(cli, data, tmp_path):
    passwd = tmp_path / "passwd"
    passwd.write_text("root:x:0:0:root:/root:/bin/bash\n")
    message = the_error_line(evaluate(cli, data, passwd), "eval")
    assert message.startswith(f"{passwd}: cannot load the ONNX model: INVALID_PROTOBUF"), message


def test_eval_of_a_truncated_model_names_it(cli, data, tmp_path):
    whole = model(tmp_path / "whole.onnx").read_bytes()
    truncated = tmp_path / "truncated.onnx"
    truncated.write_bytes(whole[: len(whole) // 2])
    message = the_error_line(evaluate(cli, data, truncated), "eval")
    assert message.startswith(f"{truncated}: cannot load the ONNX model: "), message


def test_eval_of_a_model_that_takes_no_images_names_it(cli, data, tmp_path):
    from server_repository import write_strings

    write_strings(tmp_path / "strings")
    strings = tmp_path / "strings" / "1" / "model.onnx"
    message = the_error_line(evaluate(cli, data, strings, "--resize-size", "32", "--crop-size", "28"), "eval")
    assert message.startswith(f"{strings}: cannot run on a float32 image batch [N, 3, H, W] (input 'TEXT'): "), message


def test_eval_of_a_missing_model(cli, data, tmp_path):
    assert (
        the_error_line(evaluate(cli, data, tmp_path / "nope.onnx"), "eval")
        == f"{tmp_path}/nope.onnx: no such model file"
    )


@pytest.mark.parametrize("content", [b"not a checkpoint\n", bytes(range(256)) * 4])
def test_export_with_a_weights_file_that_is_not_a_checkpoint(cli, tmp_path, content):
    weights = tmp_path / "bad.pth"
    weights.write_bytes(content)
    result = cli("export", "resnet18", "--weights", weights, "--repository", tmp_path / "repository")
    assert the_error_line(result, "export").startswith(f"cannot read checkpoint {weights}: ")


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_serve_with_a_repository_that_is_not_a_folder(tmp_path, kind):
    repository = tmp_path / "repository"
    if kind == "file":
        repository.write_text("not a folder\n")
    run = run_serve(repository)
    message = the_error_line((run.returncode, run.stdout, run.stderr), "serve")
    assert message == f"model repository {repository} is not a directory"


def test_serve_with_a_negative_cache_size(tmp_path):
    run = run_serve(tmp_path, "--cache-size", "-1")
    assert (
        the_error_line((run.returncode, run.stdout, run.stderr), "serve") == "--cache-size must be >= 0 bytes, got -1"
    )


def test_eval_shared_memory_without_a_server(cli, data, tmp_path):
    result = evaluate(cli, data, tmp_path / "model.onnx", "--shared-memory")
    assert (
        the_error_line(result, "eval")
        == "--shared-memory sends batches to a --server on this machine (not with --remote)"
    )


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (12, 10), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def test_decoding_data_that_is_not_an_image_says_so_without_object_reprs():
    with pytest.raises(ValueError) as error:
        decode_image(b"root:x:0:0:root:/root:/bin/bash\n")
    assert str(error.value) == "cannot decode image: not in an image format Pillow reads (JPEG, PNG, ...)"


def test_infer_names_the_file_that_is_not_an_image(cli, repository_server, tmp_path):
    good, bad = tmp_path / "good.png", tmp_path / "notes.jpg"
    good.write_bytes(png())
    bad.write_text("these are notes, not a JPEG\n")
    code, out, err = cli("infer", "--server", repository_server.url, "--model", "classifier", good, bad)
    message = the_error_line((code, out, err), "infer")
    assert message == (
        f"{bad}: input 'input': image 1: cannot decode image: not in an image format Pillow reads (JPEG, PNG, ...)"
    )
    assert "0x" not in err and out == ""
    code, out, _ = cli("infer", "--server", repository_server.url, "--model", "classifier", good)
    assert code == 0 and out.startswith(f"{good}\n")


def test_infer_of_a_missing_file(cli, repository_server, tmp_path):
    result = cli("infer", "--server", repository_server.url, "--model", "classifier", tmp_path / "nope.jpg")
    assert the_error_line(result, "infer") == f"[Errno 2] No such file or directory: '{tmp_path}/nope.jpg'"


@pytest.mark.parametrize("content", ["not json\n", '{"a": 1}\n', ""])
def test_compare_of_a_file_that_is_not_a_report(cli, tmp_path, content):
    report = tmp_path / "report.json"
    report.write_text(content)
    message = the_error_line(cli("compare", report), "compare")
    assert message.startswith(f"{report}: not "), message
