"""Every shell and Python block in the user docs runs as written, or says in the doc why it cannot.

The docs are README.md, docs/*.md, bench/README.md, bench/FUZZING.md and examples/README.md. A
block is a fence tagged sh, bash, python or py (ini, toml, json and bare fences are not commands).
An HTML comment on the line right before the fence says how the block is tested:

    (no comment)                 the whole block runs (bash -e, or python) and must exit 0
    <!-- doc-test: lines -->     a command table: each line runs on its own, in order; it must
                                 exit 0, or be a server: still running a moment after its first
                                 line of output, an address (/dev/pts/N, HOST:PORT), no traceback
    <!-- doc-test: pytest -->    python: the doc's pytest blocks, in order, are one test file run
                                 with pumpmock's plugin; a block passes when the tests it defines
                                 pass (a block that defines none: when the whole file passes)
    <!-- doc-test: skip (why) --> not run, for the reason given; a skip without one fails

Any other doc-test comment fails, and so does one that is not right before a block. A block that
uses the MicroPython runner is skipped, saying so, where `pumpmock micropython --where` fails. Each block runs
in a scratch copy of the checkout's tracked files (with .venv and firmware_mock/node_modules linked
in), with the venv's bin first on PATH, so what a block writes (transcripts, fuzz-failures/,
bench results) never lands in the checkout; whatever a block leaves running is stopped after it.
"""

import ast
import os
import pathlib
import re
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ElementTree

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ["README.md", *sorted(str(p.relative_to(ROOT)) for p in (ROOT / "docs").glob("*.md")),
        "bench/README.md", "bench/FUZZING.md", "examples/README.md"]
LANGUAGES = {"sh": "shell", "bash": "shell", "python": "python", "py": "python"}
FENCE = re.compile(r"^```([\w+-]*)\s*$")
DIRECTIVE = re.compile(r"^\s*<!--\s*doc-test:(.*?)-->\s*$")
ANY_DIRECTIVE = re.compile(r"<!--\s*doc-test")
SKIP = re.compile(r"^skip\s*\((.*)\)$")
ADDRESS = re.compile(r"^(/dev/\S+|[\w.-]+:\d+)$")   # what `pumpmock serve` / `proxy pty` print first

VENV_BIN = pathlib.Path(sys.executable).parent      # not resolved: the venv's bin, not the base Python's
BLOCK_TIMEOUT_S = 60
LINE_TIMEOUT_S = 40
SERVER_STARTED_AFTER_S = 2.0   # a server line must still be up this long after it was started...
SERVER_UP_AFTER_ADDRESS_S = 0.5   # ...and this long after it printed its address
PYTEST_TIMEOUT_S = 100
LINKED = (".venv", "firmware_mock/node_modules")   # too big or not tracked: linked, never copied


class Block:
    def __init__(self, doc, line, language, code, directive):
        self.doc, self.line, self.language, self.code, self.directive = doc, line, language, code, directive

    @property
    def name(self):
        return "%s:%d" % (self.doc, self.line)


def parse(doc, text):
    """(blocks, problems) of one doc: every runnable block with the directive before it, and every
    doc-test comment that is not right before one (line numbers count from 1, at the fence)."""
    lines = text.splitlines()
    blocks, problems, index = [], [], 0
    claimed = set()
    while index < len(lines):
        opened = FENCE.match(lines[index])
        if not opened:
            index += 1
            continue
        end = index + 1
        while end < len(lines) and lines[end].strip() != "```":
            end += 1
        language = LANGUAGES.get(opened.group(1))
        directive = DIRECTIVE.match(lines[index - 1]) if index > 0 else None
        if language is not None:
            blocks.append(Block(doc, index + 1, language, "\n".join(lines[index + 1:end]) + "\n",
                                directive.group(1).strip() if directive else None))
            if directive:
                claimed.add(index - 1)
        index = end + 1
    for number, line in enumerate(lines):
        if ANY_DIRECTIVE.search(line) and number not in claimed:
            problems.append("%s:%d: a doc-test comment that is not on the line right before a sh, bash or "
                            "python fence: %s" % (doc, number + 1, line.strip()))
    return blocks, problems


def all_blocks():
    blocks = []
    for doc in DOCS:
        blocks += parse(doc, (ROOT / doc).read_text(encoding="utf-8"))[0]
    return blocks


BLOCKS = all_blocks()


def kind_of(block):
    """The block's test, from its directive: ("run" | "lines" | "pytest", None) or ("skip", reason);
    fails the test for a directive that is unknown, has no reason, or does not fit the language."""
    directive = block.directive
    if directive is None:
        return "run", None
    skipped = SKIP.match(directive)
    if skipped:
        if not skipped.group(1).strip():
            pytest.fail("%s: a skip needs a reason: <!-- doc-test: skip (why) -->" % block.name)
        return "skip", skipped.group(1).strip()
    if directive == "skip":
        pytest.fail("%s: a skip needs a reason: <!-- doc-test: skip (why) -->" % block.name)
    if directive == "lines" and block.language == "shell" or directive == "pytest" and block.language == "python":
        return directive, None
    if directive in ("lines", "pytest"):
        pytest.fail("%s: doc-test %s does not apply to a %s block" % (block.name, directive, block.language))
    pytest.fail("%s: unknown doc-test directive %r (lines, pytest or skip (why))" % (block.name, directive))


# ---- running ------------------------------------------------------------------------------------

NOT_COPIED = {".git", ".venv", "node_modules", "__pycache__", ".hypothesis", ".pytest_cache", "build", "dist",
              "fuzz-failures"}


def tracked_files():
    """The checkout's files as git knows them; without git (a source archive), every file but caches."""
    git = shutil.which("git")
    done = git and subprocess.run([git, "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, timeout=30)
    if done and done.returncode == 0:
        return [name for name in done.stdout.split("\0") if name]
    found = []
    for directory, subdirs, files in os.walk(ROOT):
        subdirs[:] = [d for d in subdirs if d not in NOT_COPIED and not d.endswith(".egg-info")]
        found += [os.path.relpath(os.path.join(directory, name), ROOT) for name in files]
    return found


TRACKED = tracked_files()


def scratch_checkout(directory):
    """A copy of the checkout's tracked files in `directory` (the blocks write where they run)."""
    for name in TRACKED:
        source = ROOT / name
        if source.is_file():   # a tracked file someone deleted in the working tree is not copied
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, directory / name)
    for name in LINKED:
        if (ROOT / name).exists():
            (directory / name).parent.mkdir(parents=True, exist_ok=True)
            (directory / name).symlink_to(ROOT / name)
    return directory


def environment():
    env = dict(os.environ, PATH=str(VENV_BIN) + os.pathsep + os.environ.get("PATH", ""), PYTHONDONTWRITEBYTECODE="1")
    for name in ("PYTEST_ADDOPTS", "PYTEST_CURRENT_TEST", "PYTEST_PLUGINS"):
        env.pop(name, None)   # this run's pytest settings are not the blocks'
    return env


def start(command, cwd, output):
    """A child in its own process group (so whatever it puts in the background can be stopped with
    it), its output in files (a background child keeps a pipe open after the block has ended)."""
    return subprocess.Popen(command, cwd=cwd, env=environment(), stdin=subprocess.DEVNULL,
                            stdout=open(output / "stdout", "w"), stderr=open(output / "stderr", "w"),
                            start_new_session=True)


def stop_group(process):
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            continue
        time.sleep(0.1)   # the group's other members get their SIGTERM handled before the SIGKILL


def read(output):
    return (output / "stdout").read_text(errors="replace"), (output / "stderr").read_text(errors="replace")


def tail(text, lines=40):
    return "\n".join(text.splitlines()[-lines:])


def run_to_end(block, command, cwd, output):
    process = start(command, cwd, output)
    try:
        status = process.wait(timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        status = None
    finally:
        stop_group(process)
    out, err = read(output)
    if status is None:
        pytest.fail("%s did not finish within %d s\n--- stdout\n%s\n--- stderr\n%s"
                    % (block.name, BLOCK_TIMEOUT_S, tail(out), tail(err)))
    assert status == 0, "%s exited %d\n--- stdout\n%s\n--- stderr\n%s" % (block.name, status, tail(out), tail(err))


def command_lines(code):
    """The commands of a command table: one a line, comments and blank lines left out."""
    joined = code.replace("\\\n", " ")
    return [line.strip() for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")]


def run_line(block, line, cwd, output):
    """One command of a table: it exits 0, or it is a server that came up (see the module docstring)."""
    process = start(["bash", "-e", "-c", line], cwd, output)
    started = time.monotonic()
    address_seen = None
    try:
        while time.monotonic() - started < LINE_TIMEOUT_S:
            status = process.poll()
            out, err = read(output)
            if status is not None:
                assert status == 0, "%s: `%s` exited %d\n--- stdout\n%s\n--- stderr\n%s" % (
                    block.name, line, status, tail(out), tail(err))
                return
            first = out.splitlines()[0].strip() if out.strip() else ""
            if address_seen is None and ADDRESS.match(first):
                address_seen = time.monotonic()
            if (address_seen is not None and time.monotonic() - started >= SERVER_STARTED_AFTER_S
                    and time.monotonic() - address_seen >= SERVER_UP_AFTER_ADDRESS_S):
                assert "Traceback" not in err, "%s: `%s` printed a traceback:\n%s" % (block.name, line, tail(err))
                return
            time.sleep(0.05)
        pytest.fail("%s: `%s` neither finished nor came up as a server within %d s\n--- stdout\n%s\n--- stderr\n%s"
                    % (block.name, line, LINE_TIMEOUT_S, tail(out), tail(err)))
    finally:
        stop_group(process)


def names_of_tests(code):
    """Names of the tests a block defines: test functions, Test classes, Test = ... assignments."""
    names = []
    for node in ast.parse(code).body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test"):
            names.append(node.name)
        elif isinstance(node, ast.ClassDef) and node.name.startswith("Test"):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name) and t.id.startswith("Test")]
    return names


_runner = []


def micropython_runner_found():
    """Whether node and the runner's npm package are there (asked once)."""
    if not _runner:
        done = subprocess.run([str(VENV_BIN / "pumpmock"), "micropython", "--where"], capture_output=True, timeout=30)
        _runner.append(done.returncode == 0)
    return _runner[0]


@pytest.fixture(scope="module")
def pytest_runs(tmp_path_factory):
    """Each doc's pytest blocks run once, together; every block's test reads its part of the result."""
    runs = {}

    def run(doc):
        if doc not in runs:
            workdir = scratch_checkout(tmp_path_factory.mktemp("pytest-docs"))
            blocks = [b for b in BLOCKS if b.doc == doc and b.directive == "pytest"]
            test_file = workdir / ("test_doc_%s.py" % re.sub(r"\W", "_", pathlib.Path(doc).stem))
            test_file.write_text("\n\n".join("# %s\n%s" % (b.name, b.code) for b in blocks), encoding="utf-8")
            report = workdir / "junit.xml"
            command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--junitxml", str(report),
                       test_file.name]
            process = start(command, workdir, workdir)
            try:
                status = process.wait(timeout=PYTEST_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                status = None
            finally:
                stop_group(process)
            out, err = read(workdir)
            outcomes = {}
            if report.exists():
                for case in ElementTree.parse(report).iter("testcase"):
                    failed = case.find("failure") is not None or case.find("error") is not None
                    skipped = case.find("skipped") is not None
                    outcome = "failed" if failed else "skipped" if skipped else "passed"
                    outcomes[(case.get("classname", "").rsplit(".", 1)[-1], case.get("name"))] = outcome
            runs[doc] = status, outcomes, tail(out, 80) + "\n" + tail(err)
        return runs[doc]

    return run


@pytest.mark.parametrize("block", BLOCKS, ids=[b.name for b in BLOCKS])
def test_block(block, tmp_path, pytest_runs):
    kind, reason = kind_of(block)
    if kind == "skip":
        pytest.skip(reason)
    if "pumpmock micropython" in block.code and not micropython_runner_found():
        pytest.skip("the MicroPython runner cannot run here (pumpmock micropython --where)")
    if kind == "pytest":
        status, outcomes, output = pytest_runs(block.doc)
        assert status is not None, "%s: the doc's tests did not finish within %d s\n%s" % (
            block.name, PYTEST_TIMEOUT_S, output)
        names = names_of_tests(block.code)
        if not names:
            assert status == 0, "%s: the doc's test file (this block and the others) failed:\n%s" % (block.name, output)
            return
        for name in names:
            mine = {key: outcome for key, outcome in outcomes.items() if name in key}
            assert mine, "%s: its test %s was not run:\n%s" % (block.name, name, output)
            assert set(mine.values()) == {"passed"}, "%s: %s\n%s" % (block.name, mine, output)
        return
    workdir = scratch_checkout(tmp_path / "checkout")
    output = tmp_path / "output"
    output.mkdir()
    if kind == "lines":
        lines = command_lines(block.code)
        assert lines, "%s: a command table with no commands" % block.name
        for line in lines:
            run_line(block, line, workdir, output)
        return
    script = tmp_path / ("block.sh" if block.language == "shell" else "block.py")
    script.write_text(block.code, encoding="utf-8")
    command = ["bash", "-e", str(script)] if block.language == "shell" else [sys.executable, str(script)]
    run_to_end(block, command, workdir, output)


@pytest.mark.parametrize("doc", DOCS)
def test_every_doc_test_comment_belongs_to_a_block(doc):
    problems = parse(doc, (ROOT / doc).read_text(encoding="utf-8"))[1]
    assert not problems, "\n".join(problems)


# ---- the collector itself -------------------------------------------------------------------------

SAMPLE = """\
text
<!-- doc-test: skip (needs a board) -->
```sh
pumpmock bench --port /dev/ttyACM0
```
<!-- doc-test: skip (an ini file) -->
```ini
[pytest]
```
<!-- doc-test: lines -->
```bash
pumpmock check
```
<!-- doc-test: pytest -->

```python
x = 1
```
<!-- doc-test: skip -->
```py
y = 2
```
<!-- doc-test: lines -->
"""


def test_the_collector_reads_each_blocks_directive_and_finds_stray_ones():
    blocks, problems = parse("sample.md", SAMPLE)
    assert [(b.line, b.language, b.directive) for b in blocks] == [
        (3, "shell", "skip (needs a board)"), (11, "shell", "lines"), (16, "python", None), (20, "python", "skip")]
    assert blocks[0].code == "pumpmock bench --port /dev/ttyACM0\n"
    # before an ini fence, a blank line away from its fence, after the last block
    assert [p.split(":")[1] for p in problems] == ["6", "14", "23"]


def test_a_skip_without_a_reason_and_an_unknown_directive_fail():
    for directive, words in (("skip", "needs a reason"), ("skip ()", "needs a reason"),
                             ("run-it", "unknown doc-test directive"), ("lines", "does not apply")):
        with pytest.raises(pytest.fail.Exception, match=words):
            kind_of(Block("sample.md", 1, "python", "", directive))
    assert kind_of(Block("sample.md", 1, "shell", "", "skip (needs a board (a Pico))")) == ("skip", "needs a board (a Pico)")
    assert kind_of(Block("sample.md", 1, "shell", "", None)) == ("run", None)


def test_command_lines_leave_out_comments_and_join_continued_lines():
    table = "# a comment\npumpmock check   # trailing words stay\n\npumpmock fuzz \\\n    --budget 5s\n"
    assert command_lines(table) == ["pumpmock check   # trailing words stay", "pumpmock fuzz      --budget 5s"]


def test_a_table_line_passes_when_it_exits_0_or_comes_up_as_a_server(tmp_path, monkeypatch):
    monkeypatch.setattr(sys.modules[__name__], "SERVER_STARTED_AFTER_S", 0.3)
    block = Block("sample.md", 1, "shell", "", "lines")
    run_line(block, "true", tmp_path, tmp_path)
    run_line(block, "echo 127.0.0.1:7000; sleep 30", tmp_path, tmp_path)   # stopped once it is up
    failing = {"exit 3": "exited 3",
               "echo /dev/pts/9; echo 'Traceback (most recent call last):' >&2; sleep 30": "printed a traceback"}
    for line, words in failing.items():
        with pytest.raises(AssertionError, match=re.escape(words)):
            run_line(block, line, tmp_path, tmp_path)
    monkeypatch.setattr(sys.modules[__name__], "LINE_TIMEOUT_S", 1)
    with pytest.raises(pytest.fail.Exception, match="neither finished nor came up as a server"):
        run_line(block, "echo working; sleep 30", tmp_path, tmp_path)   # output, but no address


def running(pid):
    """True while `pid` runs (a zombie waiting for its new parent to reap it does not)."""
    try:
        return pathlib.Path("/proc/%d/stat" % pid).read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.mark.skipif(not pathlib.Path("/proc/self/stat").exists(), reason="reads process states from /proc")
def test_a_block_that_fails_says_so_and_what_it_left_running_is_stopped(tmp_path):
    block = Block("sample.md", 1, "shell", "", None)
    (tmp_path / "out").mkdir()
    with pytest.raises(AssertionError, match="sample.md:1 exited 4"):
        run_to_end(block, ["bash", "-e", "-c", "echo half; exit 4"], tmp_path, tmp_path / "out")
    run_to_end(block, ["bash", "-e", "-c", "sleep 37 & echo $! > child.pid"], tmp_path, tmp_path / "out")
    child = int((tmp_path / "child.pid").read_text())
    assert not running(child)
