"""``convzoo summary``: per-layer table or JSON, read off the module, with totals."""

import json


def test_json_lists_every_layer_with_shapes_params_and_macs(cli):
    code, out, _ = cli("summary", "resnet50", "--json")
    data = json.loads(out)
    assert code == 0 and data["params"] == 25_557_032 and data["macs"] == 4_089_184_256
    layers = {layer["name"]: layer for layer in data["layers"]}
    assert layers["conv1"] == {
        "name": "conv1",
        "kind": "Conv2d 7x7/2",
        "output_shape": [64, 112, 112],
        "params": 9408,
        "macs": 118_013_952,
    }
    assert layers["layer2.0.conv2"]["output_shape"] == [128, 28, 28]  # v1.5: the 3x3 conv strides
    assert layers["layer4.2.add"]["output_shape"] == [2048, 7, 7]
    assert layers["fc"]["params"] == 2048 * 1000 + 1000
    assert sum(layer["params"] for layer in data["layers"]) == data["params"]


def test_table_ends_with_the_totals(cli):
    code, out, _ = cli("summary", "vgg16", "--activation", "prelu")
    lines = out.splitlines()
    assert code == 0 and lines[0].split() == ["layer", "kind", "output", "shape", "params", "MACs"]
    assert lines[1].split() == ["features.0", "Conv2d", "3x3/1", "64x224x224", "1,792", "86,704,128"]
    assert lines[2].split() == ["features.1", "prelu", "64x224x224", "64", "0"]
    prelu_params = 138_357_544 + 2 * 64 + 2 * 128 + 3 * 256 + 6 * 512 + 2 * 4096  # one slope per channel
    assert lines[-1] == f"vgg16 (prelu, 1000 classes, 224x224): {prelu_params:,} params, 15.470 GMACs"


def test_unknown_arch_is_one_line(cli):
    code, out, err = cli("summary", "vgg17")
    assert code == 1 and out == ""
    assert err.strip() == (
        "convzoo summary: error: unknown architecture 'vgg17'; choose one of alexnet, resnet101, "
        "resnet152, resnet18, resnet34, resnet50, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, "
        "vgg16_bn, vgg19, vgg19_bn"
    )
