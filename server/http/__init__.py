"""The v2 inference protocol over HTTP/REST (KServe v2 plus Triton's extensions) on the data plane."""
