"""Loader for the fourth blind round's variants (variants/blind4/).

Each variant imports the example app through this module, then swaps one function or constant
for a version with one planted defect. The app's folder (three directories up) goes on sys.path
so app.py, dosing.py and pumplink.py import as they do when the app runs. Its own module name
keeps it from shadowing the loaders of the other rounds. The variants are NOT examples to follow.
"""

import os
import sys

APP_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
if APP_DIR not in sys.path:
    sys.path.insert(0, APP_DIR)

import app  # noqa: E402  (importable once APP_DIR is on sys.path)
import dosing  # noqa: E402
import pumplink  # noqa: E402

__all__ = ["app", "dosing", "pumplink"]
