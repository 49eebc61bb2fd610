"""The Telegram bot (aiogram 3): commands that start and steer walletflow's workflows.

One router per area (`wallets`, `withdrawals`, `admin`, plus `basics` for /start and /help),
roles checked by `auth.AuthMiddleware` against handler flags, the Temporal client, the pool
and the settings injected through the Dispatcher (`app.create_dispatcher`), and 429 retries
on the Bot's session (`retry.RetryAfterMiddleware`). `python -m starter.bot` runs it.
"""

from starter.bot.app import create_bot, create_dispatcher, register_commands, run

__all__ = ["create_bot", "create_dispatcher", "register_commands", "run"]
