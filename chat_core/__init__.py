"""Real-time chat backend: domain core, stores, transports."""
