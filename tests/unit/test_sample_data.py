"""The demo's stand-in validation set reads as the flat layout with the shipped labels."""

from PIL import Image

from convzoo.base import imagenet
from convzoo.base.datasets import open_dataset
from convzoo.demo.sample_data import write_sample_dataset


def test_sample_dataset_is_flat_validation_files_with_true_labels(tmp_path):
    folder = write_sample_dataset(tmp_path, 6)
    dataset = open_dataset(tmp_path)
    assert dataset.layout == "flat" and len(dataset.samples) == 6
    assert [s.label for s in dataset.samples] == list(imagenet.val_labels()[:6])
    sizes = {Image.open(path).size for path in sorted(folder.iterdir())}
    assert sizes == {(500, 375), (375, 500)}
