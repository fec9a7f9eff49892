"""Tests run on several gloo processes (a package, so its conftest never shadows tests/conftest.py)."""
