"""Triton's trace extension: trace settings (``settings``), each sampled request's span with
Triton's timestamps (``spans``), and ``serve --trace-config`` (``config``)."""
