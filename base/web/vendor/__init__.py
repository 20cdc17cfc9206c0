"""Vendored third-party browser code, each file beside its licence (README.md here)."""
