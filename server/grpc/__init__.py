"""The gRPC transport: the KServe v2 / Triton service over protobuf (servicer, messages), its
interceptors (token, undecodable bytes), TLS, the extra-services hook and the server that binds them."""
