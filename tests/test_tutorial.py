"""docs/testing-your-programmer.md: its Python snippets, put together as a reader would, pass against the example app."""

import pathlib
import re
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent
TUTORIAL = ROOT / "docs" / "testing-your-programmer.md"


def python_blocks():
    return re.findall(r"```python\n(.*?)```", TUTORIAL.read_text(), flags=re.S)


def test_the_tutorials_tests_pass_with_every_oracle_on(tmp_path):
    blocks = python_blocks()
    interrogate, low_reservoir, oracles = blocks[0], blocks[1], blocks[2]
    assert "def run_app" in interrogate and "pump_port" in low_reservoir and "pump_oracles" in oracles
    test_file = tmp_path / "test_from_tutorial.py"
    test_file.write_text("\n\n".join([interrogate, low_reservoir, oracles]))
    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(test_file)],
                          cwd=ROOT, capture_output=True, text=True, timeout=110)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 passed" in done.stdout
