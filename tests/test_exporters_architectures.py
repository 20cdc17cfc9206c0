"""Architectures: torchvision's keys, published parameter counts, summary rows == the built module."""

import inspect

import pytest
import torch

from convzoo.exporters.activations import ACTIVATIONS, get_activation
from convzoo.exporters.registry import architectures, get_architecture
from convzoo.exporters.summary import summarize

# torchvision's published parameters (exact) and GMACs at 224 (its model documentation; issue 10: within 0.1%).
PUBLISHED = {
    "alexnet": (61_100_840, 0.714),
    "vgg11": (132_863_336, 7.609),
    "vgg11_bn": (132_868_840, 7.609),
    "vgg13": (133_047_848, 11.308),
    "vgg13_bn": (133_053_736, 11.308),
    "vgg16": (138_357_544, 15.47),
    "vgg16_bn": (138_365_992, 15.47),
    "vgg19": (143_667_240, 19.632),
    "vgg19_bn": (143_678_248, 19.632),
    "resnet18": (11_689_512, 1.814),
    "resnet34": (21_797_672, 3.664),
    "resnet50": (25_557_032, 4.089),
    "resnet101": (44_549_160, 7.801),
    "resnet152": (60_192_808, 11.514),
}


def build_meta(arch, activation="relu", num_classes=1000):
    with torch.device("meta"):
        return get_architecture(arch).build(num_classes, get_activation(activation))


def test_registry_holds_the_fourteen_architectures():
    assert set(architectures()) == set(PUBLISHED)


@pytest.mark.parametrize("arch", sorted(PUBLISHED))
def test_each_builder_is_a_plain_named_function(arch):
    builder = get_architecture(arch).builder
    assert builder.__name__ == builder.__qualname__ == arch
    assert f"\ndef {arch}(*, num_classes: int = 1000, activation:" in inspect.getsource(inspect.getmodule(builder))
    with torch.device("meta"):
        model = builder(num_classes=10, activation="prelu")
    assert model.state_dict().keys() == build_meta(arch, "prelu", num_classes=10).state_dict().keys()


@pytest.mark.parametrize("arch", sorted(PUBLISHED))
def test_summary_totals_match_published_figures(arch):
    params, gmacs = PUBLISHED[arch]
    summary = summarize(arch)
    assert summary.params == params
    assert summary.macs / 1e9 == pytest.approx(gmacs, rel=0.001)


def independent_macs(model, input_size):
    """MACs of every convolution and linear layer by the textbook formula, from plain forward hooks."""
    macs, handles = {}, []
    for name, module in model.named_modules():
        if isinstance(module, (torch.nn.Conv2d, torch.nn.Linear)):

            def hook(module, args, output, name=name):
                spatial = output.shape[2:].numel() if output.dim() == 4 else 1  # H_out * W_out
                macs[name] = module.weight.numel() * spatial  # k*k*C_in*C_out (or C_in*C_out) per position

            handles.append(module.register_forward_hook(hook))
    model(torch.empty(1, 3, input_size, input_size, device="meta"))
    for handle in handles:
        handle.remove()
    return macs


@pytest.mark.parametrize("arch", sorted(PUBLISHED))
@pytest.mark.parametrize("activation", ["relu", "prelu"])
def test_summary_rows_match_the_built_module_key_for_key(arch, activation):
    model = build_meta(arch, activation, num_classes=17).eval()
    rows = summarize(arch, activation, num_classes=17, input_size=224).layers
    derived = {row.name: row.params for row in rows if row.params}
    built: dict[str, int] = {}
    for key, p in model.named_parameters():
        prefix = key.rsplit(".", 1)[0]
        built[prefix] = built.get(prefix, 0) + p.numel()
    assert derived == built
    assert sum(derived.values()) == sum(p.numel() for p in model.parameters())
    assert {row.name: row.macs for row in rows if row.macs} == independent_macs(model, 224)


def test_alexnet_keys_are_torchvision_keys():
    keys = [k for k in build_meta("alexnet").state_dict() if k.endswith("weight")]
    assert keys == [f"features.{i}.weight" for i in (0, 3, 6, 8, 10)] + [f"classifier.{i}.weight" for i in (1, 4, 6)]


def test_vgg_keys_are_torchvision_keys():
    convs = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]
    keys = [k for k in build_meta("vgg16").state_dict() if k.endswith("weight")]
    assert keys == [f"features.{i}.weight" for i in convs] + [f"classifier.{i}.weight" for i in (0, 3, 6)]
    bn = build_meta("vgg11_bn").state_dict()
    assert {"features.0.weight", "features.1.running_var", "features.4.weight", "features.5.running_mean"} <= set(bn)


def test_resnet_keys_and_v15_stride():
    model = build_meta("resnet50")
    keys = set(model.state_dict())
    assert {
        "conv1.weight",
        "bn1.running_mean",
        "layer1.0.downsample.0.weight",
        "layer1.0.downsample.1.bias",
        "layer4.2.conv3.weight",
        "layer4.2.bn3.num_batches_tracked",
        "fc.weight",
        "fc.bias",
    } <= keys
    assert not any("act" in k for k in keys)  # parameter-free variants add no keys
    block = model.layer2[0]
    assert (block.conv1.stride, block.conv2.stride) == ((1, 1), (2, 2))
    assert len(build_meta("resnet18").state_dict()) == 122  # torchvision's resnet18 has 122 entries


def test_prelu_adds_one_slope_per_channel_at_every_site():
    relu, prelu = summarize("resnet18"), summarize("resnet18", "prelu")
    acts = [row for row in prelu.layers if row.kind == "prelu"]
    assert prelu.params - relu.params == sum(row.output_shape[0] for row in acts) > 0
    assert "layer1.0.act1.weight" in build_meta("resnet18", "prelu").state_dict()


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_every_variant_replaces_every_activation(name):
    model = build_meta("vgg11", name)
    expected = {
        "relu": "ReLU",
        "leaky_relu": "LeakyReLU",
        "prelu": "PReLU",
        "elu": "ELU",
        "tanh": "Tanh",
        "sigmoid": "Sigmoid",
        "linear": "Identity",
        "step": "BinaryStep",
    }[name]
    kinds = [type(m).__name__ for m in model.modules()]
    assert kinds.count(expected) == 8 + 2  # 8 convolutions + 2 hidden linear layers
    assert ({"ReLU", "LeakyReLU", "PReLU", "ELU", "Tanh", "Sigmoid", "BinaryStep"} - {expected}) & set(kinds) == set()


def test_variant_parameters_come_from_the_table():
    model = build_meta("alexnet", "leaky_relu")
    assert model.features[1].negative_slope == 0.01
    assert build_meta("alexnet", "elu").features[1].alpha == 1.0


def test_step_is_a_binary_step():
    step = get_activation("step").module(1)
    assert step(torch.tensor([-1.0, 0.0, 1e-30, 3.0])).tolist() == [0.0, 0.0, 1.0, 1.0]


def test_unknown_names_list_the_known_ones():
    with pytest.raises(LookupError, match="resnet50"):
        get_architecture("resnet51")
    with pytest.raises(LookupError, match="leaky_relu"):
        get_activation("swish")


def test_small_inputs_shrink_shapes_as_the_formula_says():
    rows = {r.name: r for r in summarize("alexnet", input_size=64).layers}
    assert rows["features.0"].output_shape == (64, 15, 15)  # (64 - 11 + 4) // 4 + 1
    assert rows["avgpool"].output_shape == (256, 6, 6)
    with pytest.raises(ValueError, match=r"alexnet cannot run on a 16x16 px input: features\.5: .*too small"):
        summarize("alexnet", input_size=16)
