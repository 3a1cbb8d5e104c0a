"""Hyperliquid perpetuals (first dex, USDC collateral) on ccxt / ccxt.pro ``hyperliquid``."""
