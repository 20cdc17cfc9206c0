"""convzoo.base: what every room shares and nothing above it may be imported by.

The model card, preprocessing, ImageNet class tables, dataset layouts and the decode
workers, ONNX Runtime devices, and the KServe v2 tensor codec shared by server and client.
Modules here import only each other and ``convzoo.proto``.
"""
