"""Graphviz renderings of minigrad graphs (reads graphs only)."""
