"""Gate USDT-settled perpetual futures (API v4) through ccxt / ccxt.pro ``gate``."""
