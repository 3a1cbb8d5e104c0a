"""Public API of the Binance normalisers: raw REST bodies and stream frames -> ``monitor.events``.

Pure functions, no I/O. The rules live in ``fields`` (values), ``streams`` (WebSocket frames) and
``rest`` (REST bodies); this module is the one place callers import from.
"""

from monitor.venues.binance.rest import (
    AccountTotals,
    AssetIndex,
    PositionRiskVersion,
    parse_account_coinm,
    parse_account_snapshot,
    parse_account_v3,
    parse_asset_index,
    parse_leverage_brackets,
    parse_multi_assets_margin,
    parse_position_risk,
    parse_position_side_dual,
    parse_premium_index,
    parse_symbol_config,
    settle_asset,
)
from monitor.venues.binance.streams import (
    MAX_MARKS,
    UserEvent,
    is_control_reply,
    order_kind,
    parse_mark_prices,
    parse_user_event,
    unwrap_combined,
)
from monitor.venues.wire import FrameError, parse_decimal, parse_ms

__all__ = [
    "MAX_MARKS",
    "AccountTotals",
    "AssetIndex",
    "FrameError",
    "PositionRiskVersion",
    "UserEvent",
    "is_control_reply",
    "order_kind",
    "parse_account_coinm",
    "parse_account_snapshot",
    "parse_account_v3",
    "parse_asset_index",
    "parse_decimal",
    "parse_leverage_brackets",
    "parse_mark_prices",
    "parse_ms",
    "parse_multi_assets_margin",
    "parse_position_risk",
    "parse_position_side_dual",
    "parse_premium_index",
    "parse_symbol_config",
    "parse_user_event",
    "settle_asset",
    "unwrap_combined",
]
