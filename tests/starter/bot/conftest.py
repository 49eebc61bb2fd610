"""The bot's own stack (a bot token of its own) and the harness: tests/support/bot.py."""

from tests.support.bot import harness, stack

__all__ = ["harness", "stack"]
