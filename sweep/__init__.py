"""``convzoo sweep``: export and evaluate a grid of architectures x activations x precisions, then compare.

A room above both the exporters and the evaluation job (it orchestrates the two), registered
as a ``convzoo.commands`` entry point like every other room.
"""
