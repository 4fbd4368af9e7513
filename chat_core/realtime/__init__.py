"""Socket.IO transport: the AsyncServer, its event namespace, fan-out adapters, drain."""
