"""Bitunix USDT-M futures on a client of the project's own (``aiohttp`` and ``websockets``): ccxt
has no Bitunix class."""
