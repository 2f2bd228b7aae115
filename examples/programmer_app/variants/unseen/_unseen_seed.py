"""Loads the example app for a variant in this folder (one level deeper than variants/_seed.py).

Each variant here replaces one function or constant of the app to plant one realistic defect.
They are NOT examples to follow. Named _unseen_seed so it never shadows variants/_seed.py.
"""

import os
import sys

APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if APP_DIR not in sys.path:
    sys.path.insert(0, APP_DIR)

import app  # noqa: E402  (the path above makes the app's modules importable)
import dosing  # noqa: E402
import pumplink  # noqa: E402

__all__ = ["app", "dosing", "pumplink"]
