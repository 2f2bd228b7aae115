"""Loads the example app for a seeded-defect variant: each variant replaces one function or constant.

The variants exist to prove the example test suite catches realistic defects
(tests/test_example_variants.py). They are NOT examples to follow.
"""

import os
import sys

APP_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if APP_DIR not in sys.path:
    sys.path.insert(0, APP_DIR)

import app  # noqa: E402  (the path above makes the app's modules importable)
import dosing  # noqa: E402
import pumplink  # noqa: E402

__all__ = ["app", "dosing", "pumplink"]
