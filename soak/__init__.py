"""A seeded chaos soak: three nodes, simulated users, a fault schedule, and a checker over the
recorded history (`python -m soak`, `make soak`). See docs/reliability.md."""
