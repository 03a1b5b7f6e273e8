"""PC/SC reader layer: the only package that imports pyscard (see issue 3)."""
