"""Audience graph: interaction edges for the analysis, snapshots of its results, job leases."""

from __future__ import annotations


class GraphQueries:
    """Mixed into Store."""
