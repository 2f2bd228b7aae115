"""The pump emulator: a sans-I/O core (firmware_mock.core.Pump) that runs on CPython and MicroPython."""
