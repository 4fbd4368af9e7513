"""Benchmark suite: our server against python-socketio and Node socket.io references (docs/benchmarks.md)."""
