"""The built-in simulated exchange: Binance USD-M compatible REST and WebSocket on a loopback port.

Used by ``monitor demo``, ``monitor sim``, the integration tests and the benchmarks. Pieces, from the
pure core outwards:

- ``specs``: contract specifications and Binance-like leverage-bracket tables.
- ``ledger``: accounts, positions, fills, margin and the exchange's own liquidation engine (no I/O).
- ``market`` and ``scenarios``: the seeded random walk and the scripted scenarios (``calm``,
  ``cascade``, ``squeeze``, ``wick``, ``stall``, ``disconnect``, ``malformed``, ``demo``).
- ``book``: starting books (``demo_book``, ``small_book``, ``synthetic_book``).
- ``frames``: Binance's REST bodies and stream frames; ``auth``: request signing checks.
- ``rest``, ``streams``, ``listenkeys``, ``faults``: the server side.
- ``exchange.SimExchange``: the façade (``monitor.venues.binance.urls.point_at`` aims ccxt at it);
  ``cli.run_sim``: the ``monitor sim`` command.

Nothing is imported here, so ``import monitor.sim.ledger`` stays free of aiohttp.
"""
