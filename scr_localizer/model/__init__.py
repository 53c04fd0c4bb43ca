"""Frozen encoders, the scene coordinate head and the map file."""
