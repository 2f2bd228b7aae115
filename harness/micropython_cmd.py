"""`pumpmock micropython`: the pump firmware under the real MicroPython (WebAssembly port, on Node.js).

    pumpmock micropython --setup                 install the runner's npm package (once)
    pumpmock check "exec:pumpmock micropython --test-mode"
    pumpmock micropython --where                 where the runner and its npm package are

Without --setup or --where it runs the installed runner (firmware_mock/wasm_runner.mjs) in place
of this process: the pump speaks binary frames on stdin/stdout, for the exec: transport, and every
option goes to the runner (--test-mode, --serial, --seed, --storage DIR, --heap SIZE). It needs Node.js and the npm package
@micropython/micropython-webassembly-pyscript at the version firmware_mock/package.json pins;
--setup installs that with npm into a cache folder (PUMPMOCK_NODE_DIR, default
~/.cache/pumpmock/micropython), so an installed wheel needs no checkout.
"""

import json
import os
import pathlib
import shutil
import subprocess
import sys

FIRMWARE_DIR = pathlib.Path(__file__).resolve().parent.parent / "firmware_mock"
RUNNER = FIRMWARE_DIR / "wasm_runner.mjs"
PACKAGE_FILES = ("package.json", "package-lock.json")
NPM_PACKAGE = "@micropython/micropython-webassembly-pyscript"
NODE_DIR_VARIABLE = "PUMPMOCK_NODE_DIR"


def node_dir():
    """The folder --setup installs the npm package into (its node_modules is looked in)."""
    configured = os.environ.get(NODE_DIR_VARIABLE)
    if configured:
        return pathlib.Path(configured).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return pathlib.Path(cache) / "pumpmock" / "micropython"


def pinned_version():
    return json.loads((FIRMWARE_DIR / "package.json").read_text())["dependencies"][NPM_PACKAGE]


def package_found():
    """The folder holding the npm package, where the runner will find it, or None."""
    candidates = [parent / "node_modules" for parent in (FIRMWARE_DIR, *FIRMWARE_DIR.parents)]
    candidates.append(node_dir() / "node_modules")
    for modules in candidates:
        if (modules / NPM_PACKAGE / "package.json").is_file():
            return modules / NPM_PACKAGE
    return None


def micropython_mjs():
    """The npm package's micropython.mjs where it is found, else where the checkout would have it."""
    found = package_found()
    return (found or FIRMWARE_DIR / "node_modules" / NPM_PACKAGE) / "micropython.mjs"


def missing_line():
    return ("the MicroPython runner needs the npm package %s@%s: run `pumpmock micropython --setup` "
            "(npm installs it into %s)" % (NPM_PACKAGE, pinned_version(), node_dir()))


def setup_runner(out=sys.stdout):
    """npm ci the pinned package into node_dir(); returns an exit status."""
    npm = shutil.which("npm")
    if npm is None:
        print("pumpmock micropython: npm is not on PATH: install Node.js 20 or newer (with npm), then run "
              "`pumpmock micropython --setup` again", file=sys.stderr)
        return 2
    target = node_dir()
    target.mkdir(parents=True, exist_ok=True)
    for name in PACKAGE_FILES:
        shutil.copyfile(FIRMWARE_DIR / name, target / name)
    done = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=target)
    if done.returncode != 0:
        print("pumpmock micropython: npm ci in %s failed (exit %d)" % (target, done.returncode), file=sys.stderr)
        return 1
    print("installed %s@%s in %s" % (NPM_PACKAGE, pinned_version(), target / "node_modules"), file=out)
    return 0


def runner_command(runner_args=()):
    """The command line that runs the installed runner (for exec:, or a subprocess)."""
    return [shutil.which("node") or "node", str(RUNNER), *runner_args]


def runner_environment():
    environment = dict(os.environ)
    environment[NODE_DIR_VARIABLE] = str(node_dir())
    return environment


def add_arguments(parser):
    parser.add_argument("--setup", action="store_true",
                        help="install the runner's npm package (pinned in firmware_mock/package.json) with npm")
    parser.add_argument("--where", action="store_true",
                        help="print where the runner and its npm package are, and whether it can run")
    parser.add_argument("--test-mode", action="store_true", help="enable test control (off unless given)")
    parser.add_argument("--seed", type=int, help="seed the pump's nonces for a run that must repeat exactly (default: random nonces)")
    parser.add_argument("--serial", help="the pump's serial number (default PM-000001)")
    parser.add_argument("--storage", metavar="DIR", help="keep the pump's non-volatile state in DIR")
    parser.add_argument("--heap", metavar="SIZE", help="MicroPython heap, e.g. 512k or 2m (default 1m)")


def _runner_args(args):
    words = ["--test-mode"] if args.test_mode else []
    for name in ("seed", "serial", "storage", "heap"):
        value = getattr(args, name)
        if value is not None:
            words += ["--" + name, str(value)]
    return words


def main(args):
    if args.setup:
        return setup_runner()
    found = package_found()
    if args.where:
        print("runner   %s" % RUNNER)
        print("node     %s" % (shutil.which("node") or "not on PATH"))
        print("package  %s" % (found or "missing: " + missing_line()))
        return 0 if found and shutil.which("node") else 1
    if shutil.which("node") is None:
        print("pumpmock micropython: node is not on PATH: the runner needs Node.js 20 or newer", file=sys.stderr)
        return 2
    if found is None:
        print("pumpmock micropython: " + missing_line(), file=sys.stderr)
        return 2
    command = runner_command(_runner_args(args))
    sys.stdout.flush()
    os.execve(command[0], command, runner_environment())  # the runner takes this process's stdin/stdout
