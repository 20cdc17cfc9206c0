"""convzoo.client: reach a KServe v2 / Triton gRPC server (ours or Triton) from Python or ``convzoo infer``."""
