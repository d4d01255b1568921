"""The ``coproc`` command line: entry point, command groups, the demo runner."""
