"""Stoplight Prism, the independent oracle of ``tests/test_prism.py``: its pin and its runner."""
