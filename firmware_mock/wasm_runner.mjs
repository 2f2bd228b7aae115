// Runs firmware_mock under the real MicroPython (the WebAssembly port) on Node.js: the pump on stdin/stdout, or a script.
//
//   node firmware_mock/wasm_runner.mjs [--test-mode] [--serial S] [--seed N] [--storage DIR]
//       The pump speaks binary frames on stdin/stdout (the harness's exec: transport):
//       pumpmock check "exec:node firmware_mock/wasm_runner.mjs --test-mode"
//   node firmware_mock/wasm_runner.mjs --run SCRIPT [ARGS...]
//       Runs SCRIPT as __main__ under MicroPython with firmware_mock importable; the exit
//       status is the script's (SystemExit code, 1 on an uncaught exception).
//   node firmware_mock/wasm_runner.mjs --vectors [FILE...]
//       Runs tests/mpy/check_vectors.py on the golden vectors (default protocol/vectors/*.json).
//
// Only the pump's bytes go to stdout: MicroPython's own print() output goes to stderr in pump
// mode, so it can never corrupt a frame. The clock is performance.now() in whole ms; a timer
// polls the pump at its next deadline so events (alarms, re-sends) flow with no input. The
// runner exits 0 when stdin ends. --storage keeps the pump's non-volatile files on the host
// (DIR/pumpmock_<name>.bin, the same files FileStorage writes on a board), written through at
// once, so a later run with the same DIR boots from the saved state.
//
// Needs the npm package @micropython/micropython-webassembly-pyscript (pinned in package.json
// beside this file): `pumpmock micropython --setup` installs it, or `npm ci --prefix firmware_mock`
// in a checkout. From an installed pumpmock, `pumpmock micropython` runs this file.

import fs from "node:fs";
import path from "node:path";
import { createRequire } from "node:module";
import { fileURLToPath, pathToFileURL } from "node:url";

const STARTED_MS = performance.now();
const HERE = path.dirname(fileURLToPath(import.meta.url)); // .../firmware_mock
const ROOT = path.dirname(HERE);
const PACKAGE = "@micropython/micropython-webassembly-pyscript";
const PACKAGE_DIR = "firmware_mock";
const PINNED = JSON.parse(fs.readFileSync(path.join(HERE, "package.json"), "utf8")).dependencies[PACKAGE];
const MP_ROOT = "/pumpmock"; // on sys.path inside MicroPython; holds the firmware_mock package
const MP_SCRIPTS = "/pumpmock_run"; // --run: the script's directory, also on sys.path
// The pump needs about 150 KiB. A larger heap is slower, not faster: every garbage collection
// sweeps all of it (measured per GET_STATUS: 16 MiB 1.5 times, 64 MiB 4 times the time of 1 MiB).
const DEFAULT_HEAP = 1024 * 1024;
const MAX_TIMER_MS = 60 * 60 * 1000; // a far deadline is re-checked hourly (setTimeout's limit is ~24.8 days)

const USAGE = `usage: node firmware_mock/wasm_runner.mjs [--test-mode] [--serial S] [--seed N] [--storage DIR]
       node firmware_mock/wasm_runner.mjs --run SCRIPT [ARGS...]
       node firmware_mock/wasm_runner.mjs --vectors [FILE...]

Runs the pumpmock firmware (firmware_mock) under MicroPython's WebAssembly port.
Default mode: the pump speaks binary frames on stdin/stdout until stdin ends.
  --test-mode     enable test control (off unless given)
  --serial S      pump serial number (default PM-000001)
  --seed N        seed the nonces, for a run that must repeat exactly (default: random nonces)
  --storage DIR   keep the pump's non-volatile state in DIR (created if missing)
  --heap SIZE     MicroPython heap, e.g. 512k or 2m (default 1m)
  --run SCRIPT    run a Python script under MicroPython instead; ARGS become sys.argv[1:]
  --vectors       run tests/mpy/check_vectors.py on the given (default: all) golden vector files
NOT FOR CLINICAL USE: this is a mock of a fictional pump.`;

function fail(message, status = 2) {
  process.stderr.write(`wasm_runner: ${message}\n`);
  process.exit(status);
}

function parseArgs(argv) {
  const options = { testMode: false, serial: "PM-000001", seed: null, storage: null, heapBytes: DEFAULT_HEAP, run: null, args: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const value = () => {
      if (i + 1 >= argv.length) fail(`${arg} needs a value\n${USAGE}`);
      return argv[++i];
    };
    if (arg === "--help" || arg === "-h") {
      process.stdout.write(USAGE + "\n");
      process.exit(0);
    } else if (arg === "--test-mode") options.testMode = true;
    else if (arg === "--serial") options.serial = value();
    else if (arg === "--seed") options.seed = integer(arg, value());
    else if (arg === "--storage") options.storage = path.resolve(value());
    else if (arg === "--heap") options.heapBytes = heapSize(value());
    else if (arg === "--run") {
      options.run = path.resolve(value());
      options.args = argv.slice(i + 1); // everything after the script is the script's
      break;
    } else if (arg === "--vectors") {
      options.run = path.join(ROOT, "tests", "mpy", "check_vectors.py");
      options.args = argv.slice(i + 1);
      if (!options.args.length) {
        const vectors = path.join(ROOT, "protocol", "vectors");
        if (fs.existsSync(vectors)) {
          options.args = fs.readdirSync(vectors).filter((n) => n.endsWith(".json")).sort().map((n) => path.join(vectors, n));
        }
      }
      break;
    } else fail(`unknown option ${arg}\n${USAGE}`);
  }
  if (!/^[\x20-\x7e]{1,32}$/.test(options.serial)) fail("--serial must be 1 to 32 printable ASCII characters");
  return options;
}

function heapSize(text) {
  const match = /^(\d+)([kKmM]?)$/.exec(text);
  if (!match) fail(`--heap needs a size such as 512k or 2m, got ${JSON.stringify(text)}`);
  const bytes = Number(match[1]) * ({ k: 1024, m: 1024 * 1024 }[match[2].toLowerCase()] || 1);
  if (bytes < 64 * 1024) fail("--heap must be at least 64k");
  return bytes;
}

function integer(name, text) {
  if (!/^\d+$/.test(text)) fail(`${name} needs a non-negative integer, got ${JSON.stringify(text)}`);
  return Number(text);
}

// The package is resolved like require() would from the runner's own directory (which walks up
// through firmware_mock/node_modules, where `npm ci --prefix firmware_mock` puts it in a checkout),
// then from the folder `pumpmock micropython --setup` installs into (PUMPMOCK_NODE_DIR), then
// from the cwd.
async function loadMicroPythonModule() {
  const bases = [HERE + path.sep];
  if (process.env.PUMPMOCK_NODE_DIR) bases.push(path.resolve(process.env.PUMPMOCK_NODE_DIR) + path.sep);
  bases.push(process.cwd() + path.sep);
  for (const base of bases) {
    let resolved;
    try {
      resolved = createRequire(base).resolve(PACKAGE);
    } catch {
      continue;
    }
    return (await import(pathToFileURL(resolved).href)).loadMicroPython;
  }
  fail(`the npm package ${PACKAGE}@${PINNED} is missing: run \`pumpmock micropython --setup\` ` +
       `(or \`npm ci --prefix ${HERE}\` in a checkout)`);
}

function lineWriter(stream) {
  return (line) => stream.write(line + "\n");
}

function installFirmware(mp) {
  mp.FS.mkdir(MP_ROOT);
  mp.FS.mkdir(`${MP_ROOT}/${PACKAGE_DIR}`);
  for (const name of fs.readdirSync(HERE).sort()) {
    if (name.endsWith(".py")) {
      mp.FS.writeFile(`${MP_ROOT}/${PACKAGE_DIR}/${name}`, fs.readFileSync(path.join(HERE, name)));
    }
  }
  mp.runPython(`import sys\nsys.path.insert(0, ${JSON.stringify(MP_ROOT)})`);
}

// Functions MicroPython code reaches as `import pumpmock_host`: the pump's storage files on the
// host (hex text in and out, read a buffer at a time, see stdio_shell.HostFiles) and reading host
// files from scripts.
function hostModule(storageDir) {
  const storagePath = (name) => {
    if (!/^[A-Za-z0-9_]{1,32}$/.test(name)) throw new Error(`bad storage file name ${JSON.stringify(name)}`);
    return path.join(storageDir, `pumpmock_${name}.bin`);
  };
  return {
    read_hex_at(name, offset, size) {
      // at most `size` bytes from `offset`: the pump reads through a small buffer, never a whole file
      const file = storagePath(name);
      if (!fs.existsSync(file)) return "";
      const data = Buffer.alloc(size);
      const fd = fs.openSync(file, "r");
      try {
        return data.subarray(0, fs.readSync(fd, data, 0, size, offset)).toString("hex");
      } finally {
        fs.closeSync(fd);
      }
    },
    read_hex(name) {
      const file = storagePath(name);
      return fs.existsSync(file) ? fs.readFileSync(file).toString("hex") : null;
    },
    write_hex(name, offset, hex) {
      const data = Buffer.from(hex, "hex");
      const fd = fs.openSync(storagePath(name), fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
      try {
        fs.writeSync(fd, data, 0, data.length, offset); // past the end: the gap reads as zeros
      } finally {
        fs.closeSync(fd);
      }
    },
    read_text(file) {
      return fs.readFileSync(file, "utf8");
    },
  };
}

function pythonError(error) {
  if (error && error.name === "PythonError") return error.message.trimEnd();
  throw error;
}

function quietOnEpipe() {
  process.stdout.on("error", (error) => {
    if (error.code === "EPIPE") process.exit(0); // the reader went away: nothing left to say
    throw error;
  });
}

async function runScript(loadMicroPython, options) {
  if (!fs.existsSync(options.run)) fail(`no such script: ${options.run}`);
  quietOnEpipe();
  const mp = await loadMicroPython({ stdout: lineWriter(process.stdout), stderr: lineWriter(process.stderr),
                                     linebuffer: true, heapsize: options.heapBytes });
  installFirmware(mp);
  mp.registerJsModule("pumpmock_host", hostModule(options.storage || process.cwd()));
  // The script's siblings come along, so a script can import its own helper modules.
  mp.FS.mkdir(MP_SCRIPTS);
  const scriptDir = path.dirname(options.run);
  for (const name of fs.readdirSync(scriptDir)) {
    if (name.endsWith(".py")) mp.FS.writeFile(`${MP_SCRIPTS}/${name}`, fs.readFileSync(path.join(scriptDir, name)));
  }
  const argv = [options.run, ...options.args];
  let status;
  try {
    mp.runPython(`import sys\nsys.path.insert(0, ${JSON.stringify(MP_SCRIPTS)})\n` +
                 `from firmware_mock.stdio_shell import run_script\n` +
                 `_status = run_script(${JSON.stringify(`${MP_SCRIPTS}/${path.basename(options.run)}`)}, ` +
                 `${JSON.stringify(argv)})`);
    status = mp.globals.get("_status");
  } catch (error) {
    process.stderr.write(pythonError(error) + "\n");
    status = 1;
  }
  process.exitCode = Number.isInteger(status) && status >= 0 && status < 256 ? status : 1;
}

async function servePump(loadMicroPython, options) {
  const log = lineWriter(process.stderr);
  const mp = await loadMicroPython({ stdout: log, stderr: log, linebuffer: true,
                                     heapsize: options.heapBytes });
  installFirmware(mp);
  if (options.storage) {
    fs.mkdirSync(options.storage, { recursive: true });
    mp.registerJsModule("pumpmock_host", hostModule(options.storage));
  }
  const config = JSON.stringify({ serial: options.serial, test_mode: options.testMode, seed: options.seed === null ? null : String(options.seed),
                                  storage: Boolean(options.storage) });
  let step;
  let heapPoint;
  try {
    mp.runPython(
      "import json\n" +
      "from firmware_mock.stdio_shell import StdioShell, HostFiles\n" +
      `_config = json.loads(${JSON.stringify(config)})\n` +
      "_storage = None\n" +
      "if _config['storage']:\n" +
      "    import pumpmock_host\n" +
      "    _storage = HostFiles(pumpmock_host)\n" +
      // the seed crosses as text: a JavaScript number above 2**31 would not arrive intact
      "_seed = None if _config['seed'] is None else int(_config['seed'])\n" +
      "_shell = StdioShell(_config['serial'], _config['test_mode'], _seed, _storage)\n" +
      "_step = _shell.step\n" +
      "from firmware_mock import heap\n" +
      "heap.INNER_POINTS[0] = False\n" +
      "_heap_point = heap.outer_point\n" +
      "_version = '%d.%d.%d' % sys.implementation.version[:3]\n");
    step = mp.globals.get("_step");
    heapPoint = mp.globals.get("_heap_point");
  } catch (error) {
    fail(`the firmware did not start:\n${pythonError(error)}`, 1);
  }

  let timer = null;
  let closing = false;
  const feed = (hex) => {
    const now = Math.floor(performance.now()); // whole ms: the pump's arithmetic is integers only
    let answer;
    try {
      answer = step(hex, now);
      if (hex) heapPoint(); // between calls: where this port's collect frees the call's garbage
    } catch (error) {
      fail(`the firmware raised an exception:\n${pythonError(error)}`, 1);
    }
    const space = answer.indexOf(" ");
    const out = answer.slice(space + 1);
    if (out.length) process.stdout.write(Buffer.from(out, "hex"));
    schedule(Number(answer.slice(0, space)), now);
  };
  const schedule = (deadline, now) => {
    if (timer !== null) clearTimeout(timer);
    timer = null;
    if (deadline < 0 || closing) return;
    // +1 ms: the timer may fire a fraction of a ms before the deadline in performance.now() terms
    const delay = Math.min(Math.max(deadline - now, 0) + 1, MAX_TIMER_MS);
    timer = setTimeout(() => {
      timer = null;
      feed("");
    }, delay);
  };
  const stop = () => {
    closing = true;
    if (timer !== null) clearTimeout(timer);
    timer = null;
  };

  quietOnEpipe();
  process.stdin.on("data", (chunk) => feed(chunk.toString("hex")));
  process.stdin.on("end", stop); // nothing else keeps the event loop alive: node exits with 0
  process.on("SIGTERM", () => { stop(); process.stdin.destroy(); });
  process.on("SIGINT", () => { stop(); process.stdin.destroy(); });
  log(`wasm_runner: MicroPython ${mp.globals.get("_version")}, firmware_mock pump ${options.serial}, ` +
      `test mode ${options.testMode ? "ON" : "OFF"}, storage ${options.storage || "RAM"}, ` +
      `ready in ${Math.round(performance.now() - STARTED_MS)} ms; NOT FOR CLINICAL USE`);
}

const options = parseArgs(process.argv.slice(2));
const loadMicroPython = await loadMicroPythonModule();
if (options.run) await runScript(loadMicroPython, options);
else await servePump(loadMicroPython, options);
