"""Notifiers: the console, and Telegram behind a persistent outbox.

- ``settings``: ``TelegramSettings`` (TOML or environment), chats, quiet hours, timing.
- ``ports``: what the Telegram side needs from the daemon (status, control, de-risk actions).
- ``render`` / ``routing``: pure text and delivery decisions; ``pacing``: Telegram's rate limits.
- ``outbox`` / ``pending_actions`` / ``pins``: the SQLite tables.
- ``telegram``: ``TelegramNotifier`` (PTB inside the daemon's loop); ``console``: ``ConsoleNotifier``.
- ``wiring``: build a notifier from the environment or the ``[telegram]`` table; placeholder ports.
- ``redact``: the logging filter that keeps the bot token out of log records.

Import the submodules directly; this package does not import python-telegram-bot on its own.
"""
