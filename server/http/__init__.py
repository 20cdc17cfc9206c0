"""The HTTP transport: the v2 inference protocol over REST (KServe v2 plus Triton's extensions) on
the data plane, the web page beside it, and the Prometheus metrics endpoint."""
