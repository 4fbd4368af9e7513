"""Store adapters behind the `Store` port; `chat_core.assembly.open_store` picks one from the settings."""
