"""Binance USD-M and COIN-M: ``parse`` turns raw REST bodies and stream frames into
``monitor.events`` (pure); ``client`` and ``venue`` own the ccxt clients, sockets and REST calls."""
