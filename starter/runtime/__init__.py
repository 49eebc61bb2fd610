"""The runtime that workers, the bot and the CLI share: settings, telemetry and logging, health."""
