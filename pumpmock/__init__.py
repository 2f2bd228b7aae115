"""pumpmock: a test harness and firmware emulator for a fictional implantable drug pump.

NOT FOR CLINICAL USE: it never talks to a real implant.

Everything pumpmock installs lives under this one name, so a team's own `protocol`, `harness`
or `tests` package never collides with it:

    pumpmock.protocol        the protocol as code (catalog, framing, typed messages, vectors)
    pumpmock.firmware_mock   the pump's firmware (MicroPython-clean; on a board it is firmware_mock)
    pumpmock.harness         the host side: connect(), transports, interlock, plugin, CLI, fuzzing

In the repository these are the top-level folders protocol/, firmware_mock/ and harness/; the
packaging maps them here (see setup.py). Importing pumpmock registers the pumpmock:// and exec://
URL schemes with pyserial, so `serial.serial_for_url("pumpmock://")` works after `import pumpmock`.
"""

import serial as _serial

__version__ = "0.1.0"

URL_HANDLERS = "pumpmock.harness.urlhandler"
if URL_HANDLERS not in _serial.protocol_handler_packages:
    _serial.protocol_handler_packages.append(URL_HANDLERS)
