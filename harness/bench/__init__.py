"""The bench kit: deploy the firmware to a MicroPython board (`pumpmock flash`), run the checks,
a bounded fuzz campaign and link measurements against it and diff it with the emulator
(`pumpmock bench`), and run the benchmarks (`pumpmock perf`). See bench/README.md.

Modules: deploy (the Deployer interface and mpremote behind it), fakeboard (a board that is a
directory, for tests and rehearsals), flash, measure (latency, throughput, line efficiency),
scenario (the scripted exchange diffed against the emulator), run (`pumpmock bench`), report,
perf.
"""
