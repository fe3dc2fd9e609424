"""The performance suite of issue 8: ``python -m benchmarks`` (``--quick`` for a smoke run).

Every HTTP figure is a ratio against a bare Starlette app on the same uvicorn settings, measured in the
same run, alternating emulator and baseline, so that it holds on a noisy 2-core machine. See
``docs/benchmarks.md`` for the command, the targets and the method.
"""
