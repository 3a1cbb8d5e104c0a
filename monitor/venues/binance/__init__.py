"""Binance USD-M and COIN-M: ``parse`` turns raw REST bodies and stream frames into
``monitor.events`` (pure, over ``fields`` and the shared ``venues.wire``); ``client`` and ``venue``
own the ccxt clients, sockets and REST calls; ``errors`` maps ccxt's exceptions to the project's;
``factory`` is what the registry calls to build a ``BinanceVenue``."""
