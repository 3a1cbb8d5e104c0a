"""BloFin USDT swaps through ccxt / ccxt.pro ``blofin``."""
