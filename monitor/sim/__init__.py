"""The built-in simulated exchange: one venue-neutral core, one dialect per venue, on a loopback port.

Used by ``monitor demo``, ``monitor sim``, the integration tests and the benchmarks. Pieces, from the
pure core outwards:

- ``specs``: contract specifications (linear, and inverse: COIN-M) and leverage-bracket tables.
- ``ledger``: accounts, a cross pool per margin asset, positions, fills, margin and the exchange's own
  liquidation engine (no I/O); it refuses with ``rejections.Rejected`` (a neutral ``Reason``).
- ``market`` and ``scenarios``: the seeded random walk and the scripted scenarios (``calm``,
  ``cascade``, ``squeeze``, ``wick``, ``stall``, ``disconnect``, ``malformed``, ``demo``).
- ``book``: starting books (``demo_book``, ``small_book``, ``synthetic_book``; COIN-M's in
  ``COINM_BOOKS``).
- ``listenkeys``, ``faults``: user-stream keys and the switches tests and scenarios flip.
- ``dialects``: how each venue is spoken (``DIALECTS``: ``binanceusdm``, ``binancecoinm``): routes,
  bodies, framing, signing, error codes. Binance's shared pieces: ``frames`` (bodies and frames),
  ``auth`` (signing), ``errors`` (codes, and the mapping of each ``Reason``), ``rest``, ``streams``.
- ``exchange.SimExchange``: the façade, ``SimExchange(dialect=...)``
  (``monitor.venues.binance.urls.point_at`` aims ccxt at it); ``cli.run_sim``: ``monitor sim``.

Nothing is imported here, so ``import monitor.sim.ledger`` stays free of aiohttp.
"""
