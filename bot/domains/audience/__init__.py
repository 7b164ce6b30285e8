"""Interaction-graph analysis: influence, communities and relationships from the interaction log."""
