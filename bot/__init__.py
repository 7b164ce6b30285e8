"""socialbot: a social media bot for e-commerce social teams."""

from __future__ import annotations

__version__ = "0.1.0"
