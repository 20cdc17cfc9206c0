"""convzoo.exporters: AlexNet/VGG/ResNet variants to verified ONNX in a Triton model repository.

Importing this package imports nothing heavy; see ``pipeline.export_model``,
``summary.summarize`` and ``card.read_card``.
"""
