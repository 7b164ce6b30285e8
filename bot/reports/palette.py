"""The one palette of the report pages: communities 0..9 (0 is the largest) and segments by id."""

from __future__ import annotations

# Tableau 10 without its grey, plus a light blue: distinct on white, the grey is kept for "other communities".
PALETTE: tuple[str, ...] = (
    "#4e79a7",
    "#f28e2b",
    "#e15759",
    "#76b7b2",
    "#59a14f",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
    "#86bcf6",
)
OTHER_COLOUR = "#b0b0b0"
EDGE_COLOUR = "#8a94a6"
NEUTRAL_COLOUR = "#5b6b8c"  # bars that stand for no community


def colour(community: int) -> str:
    """The colour of a community everywhere on a page: the palette for 0..9, grey beyond (or unknown)."""
    return PALETTE[community] if 0 <= community < len(PALETTE) else OTHER_COLOUR


def segment_colour(segment_id: int) -> str:
    """A segment's colour: its stable id around the palette."""
    return PALETTE[segment_id % len(PALETTE)]
