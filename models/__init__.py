"""Sequence models built on minigrad's public API."""
