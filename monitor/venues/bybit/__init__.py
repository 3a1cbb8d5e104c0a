"""Bybit v5 (Unified Trading Account) on ccxt / ccxt.pro ``bybit``."""
