"""Tables that fit the terminal: the columns a trader reads first are never cut.

rich shrinks and then truncates columns when a table is wider than the console; at 80 columns that cut
the liquidation price, the one number a table of positions exists for. ``fit`` removes the less
important columns instead, in the order the caller gives, until nothing is cut, and says which ones
it left out.
"""

from __future__ import annotations

import io
from collections.abc import Sequence

from rich.console import Console
from rich.table import Table

ELLIPSIS = "…"  # what rich puts where it cut a cell that may not wrap


def is_cut(table: Table, width: int) -> bool:
    """Whether rendering ``table`` in ``width`` columns would cut a cell (or a header).

    Rendered rather than measured: rich's measurement counts a header by its longest word and a
    wrapping column by its shortest fit, so only the rendering says what is really cut."""
    scratch = Console(width=width, file=io.StringIO(), color_system=None, legacy_windows=False)
    with scratch.capture() as captured:
        scratch.print(table)
    return ELLIPSIS in captured.get()


def fit(table: Table, console: Console, drop_order: Sequence[str]) -> list[str]:
    """Remove columns named in ``drop_order`` (first the least important) until ``table`` renders in
    ``console.width`` without a cut cell; returns the headers removed. Columns not named are always
    kept: make them ``no_wrap`` so that a number is cut rather than broken (and so seen here)."""
    dropped: list[str] = []
    for header in drop_order:
        if not is_cut(table, console.width):
            break
        for i, column in enumerate(table.columns):
            if column.header == header:
                del table.columns[i]
                dropped.append(header)
                break
        # rich measures a column's padding by the position it was added at (``Column._index``), and
        # pads the last one differently: renumber, or the ones after a dropped column are measured
        # as if it were still there and their numbers are cut in a table narrower than the terminal
        for i, column in enumerate(table.columns):
            column._index = i
    if dropped:
        note = f"narrow terminal: {', '.join(dropped)} not shown"
        table.caption = f"{table.caption}; {note}" if table.caption else note
    return dropped
