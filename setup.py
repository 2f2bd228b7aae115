"""Packaging: the repository's top-level folders installed under one import root, `pumpmock.`.

protocol/, firmware_mock/ and harness/ keep the names the project was designed with in the
repository; the wheel holds them as pumpmock.protocol, pumpmock.firmware_mock and
pumpmock.harness. Subpackages and data files are found here, not listed by hand, so a new
folder or vector file cannot be left out of the wheel (CI installs the wheel and checks).
Everything else (name, version, dependencies, entry points) is in pyproject.toml.
"""

import os

from setuptools import find_packages, setup

ROOT = "pumpmock"
FOLDERS = ("protocol", "firmware_mock", "harness")
NOT_SHIPPED_DIRS = {"__pycache__", "node_modules"}
CACHE_SUFFIXES = (".pyc", ".pyo")


def packages():
    found = [ROOT]
    for folder in FOLDERS:
        found.append(ROOT + "." + folder)
        found += [ROOT + "." + folder + "." + name for name in find_packages(folder)]
    return found


def data_files(folder):
    """Every file under folder that no package holds as a module (data, and scripts in plain
    folders such as firmware_mock/board/main.py), as package-relative paths; never caches."""
    found = []
    for directory, subdirs, files in os.walk(folder):
        subdirs[:] = sorted(d for d in subdirs if d not in NOT_SHIPPED_DIRS and not d.startswith("."))
        in_package = "__init__.py" in files
        for name in sorted(files):
            if name.startswith(".") or name.endswith(CACHE_SUFFIXES) or (in_package and name.endswith(".py")):
                continue
            found.append(os.path.relpath(os.path.join(directory, name), folder))
    return found


setup(
    packages=packages(),
    package_dir={ROOT: ROOT, **{ROOT + "." + folder: folder for folder in FOLDERS}},
    package_data={ROOT + "." + folder: data_files(folder) for folder in FOLDERS},
    include_package_data=False,
)
