"""main.py for a MicroPython board (Raspberry Pi Pico / RP2040 and the like): the pump firmware on its USB console or a UART.

Deployed by `pumpmock flash --port /dev/ttyACM0 [--test-mode]`: firmware_mock/*.py go to
/firmware_mock/ on the board and this file to /main.py, which the board runs at every reset.
The pump speaks binary frames on the link from then on; nothing else may be printed there.

- Test control is on only when the file /pumpmock_test_mode exists (written deliberately by
  `pumpmock flash --test-mode`, removed by a flash without it); never by default.
- The pump's non-volatile state lives in /pumpmock_nv/ (FileStorage): it survives resets and
  power cycles like a real pump's memory. `mpremote rm -r :pumpmock_nv` is a factory reset.
- A crash of the firmware is written to /pumpmock_crash.txt before the board falls back to the
  REPL, so a bench engineer can read it with `mpremote cat :pumpmock_crash.txt`.
- On the USB console, byte 0x03 is Ctrl-C: keyboard interrupts are switched off while frames
  flow (and back on when the loop ends), so use `mpremote` (soft reset / raw REPL over
  Ctrl-A...) or the reset button to get the REPL back.
Edit the constants below to use a UART behind a USB-serial bridge instead of the USB console.
"""

import os
import select
import sys
import time

import micropython

from firmware_mock.board_loop import BoardLoop, StreamPort, UartPort
from firmware_mock.core import Pump
from firmware_mock.storage import FileStorage

# ---- configuration ------------------------------------------------------------------------------
SERIAL = "PM-000001"  # the emulator's default, so `pumpmock bench` can diff the two transcripts
SEED = None  # random nonces; an integer only for a reproducible bench run against the emulator
LINK = "usb"  # "usb": the USB CDC console (baud rate ignored); "uart": make_uart() below
UART_ID = 0
UART_BAUD = 115200
UART_TX_PIN = 0  # GP0 / GP1: UART0 on a Pico
UART_RX_PIN = 1
# Relative names: a board boots with / as its working directory.
TEST_MODE_MARKER = "pumpmock_test_mode"
STORAGE_DIR = "pumpmock_nv"
CRASH_FILE = "pumpmock_crash.txt"


def exists(path):
    try:
        os.stat(path)
        return True
    except OSError:
        return False


def make_uart():
    """The UART for LINK = "uart" (pin arguments differ between ports: adjust for yours)."""
    import machine

    return machine.UART(UART_ID, baudrate=UART_BAUD, tx=machine.Pin(UART_TX_PIN), rx=machine.Pin(UART_RX_PIN),
                        timeout=0, rxbuf=1024)


def open_port():
    poller = select.poll()
    if LINK == "uart":
        uart = make_uart()
        poller.register(uart, select.POLLIN)
        return UartPort(uart, poller)
    micropython.kbd_intr(-1)  # 0x03 inside a frame must not stop the firmware
    poller.register(sys.stdin, select.POLLIN)
    return StreamPort(sys.stdin.buffer, sys.stdout.buffer, poller)


def record_crash(error):
    try:
        with open(CRASH_FILE, "w") as handle:
            show = getattr(sys, "print_exception", None)
            if show is not None:
                show(error, handle)
            else:
                handle.write("%r\n" % (error,))
    except OSError:
        pass  # the flash itself failed: nothing more to do


def main():
    if not exists(STORAGE_DIR):
        os.mkdir(STORAGE_DIR)
    test_mode = exists(TEST_MODE_MARKER)
    pump = Pump(serial=SERIAL, test_mode=test_mode, storage=FileStorage(STORAGE_DIR), seed=SEED)
    port = open_port()
    try:
        BoardLoop(pump, port, time.ticks_ms, time.ticks_diff).run()
    except Exception as error:  # noqa: BLE001 - keep the evidence, then fall back to the REPL
        record_crash(error)
        raise
    finally:
        micropython.kbd_intr(3)


if __name__ == "__main__":
    main()
