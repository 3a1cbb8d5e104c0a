"""Bitget classic USDT-FUTURES on ccxt / ccxt.pro ``bitget``."""
