"""The primitives, by op family. Each module declares its primitives with their forward,
backward and symbolic rules side by side, and the public functions that bind them."""
