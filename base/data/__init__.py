"""ImageNet class tables and validation labels shipped as package data (see README.md here)."""
