"""The demo's narration writes margin ratios as the alerts and tables beside it do: in percent."""

from __future__ import annotations

import re

from monitor.sim.scenarios import DEMO_EVENTS, Note

# a bare fraction such as "0.50" or "1.0" where a ratio is meant; prices in the notes carry units
FRACTION = re.compile(r"(?<![\d.])[01]\.\d+(?![\d.]| ?%)")


def test_demo_notes_write_ratios_in_percent() -> None:
    notes = [e.action.text for e in DEMO_EVENTS if isinstance(e.action, Note)]
    assert notes
    for text in notes:
        assert not FRACTION.search(text), text
    assert any(re.search(r"\d %", text) for text in notes)
