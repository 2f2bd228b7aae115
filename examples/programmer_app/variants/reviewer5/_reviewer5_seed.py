"""Loads the example app for a variant of the fifth review round (variants/reviewer5/).

The app's folder is three levels up from this file; putting it on sys.path makes app.py,
dosing.py and pumplink.py importable, and each variant then replaces one function of them to
plant one defect. The variants are NOT examples to follow. The module has its own name so it
never shadows the loaders of the other rounds.
"""

import os
import sys

APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if APP_DIR not in sys.path:
    sys.path.insert(0, APP_DIR)

import app  # noqa: E402  (importable once APP_DIR is on the path)
import dosing  # noqa: E402
import pumplink  # noqa: E402

__all__ = ["app", "dosing", "pumplink"]
