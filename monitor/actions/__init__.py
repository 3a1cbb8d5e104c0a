"""De-risking: the order gateway, the pure planner, and the automatic/suggested modes.

- ``planner``: pure functions from an account snapshot to the smallest reduce-only orders (cross) or
  margin transfers (isolated) that bring it back to its target, with before/after figures.
- ``gateway``: the only way an order or a transfer leaves the daemon (state, caps, fresh read,
  journal before send, look-up instead of resend, halts).
- ``derisker``: the daemon's risk listener for ``auto`` and ``suggest`` accounts.
- ``port``: the Telegram buttons' ``ActionPort`` over the gateway.
- ``wiring.build_derisking``: all of it on a running ``Daemon``.

Nothing is imported here, so ``import monitor.actions.planner`` stays free of ccxt.
"""
