"""The audience graph from the stored interaction log: weights, influencer scores, brokers, community topics.

The log is read in chunks straight into integer arrays (`log`) and handed to the fast engine
(bot.domains.audience.engine); `scores` and `communities` turn its measures into a ranking with reasons, brokers
and community summaries, `run` into one GraphReport. networkx is the API for what people look at (`views`): the
drawing graph, ego networks and exports, all built from the same arrays.
"""

from bot.domains.audience.graph.log import InteractionLog, edge_log_from, ego_log, load_log, node_key, split_key
from bot.domains.audience.graph.run import GraphRun, analyse_log
from bot.domains.audience.graph.views import Tie, drawing_graph, ego_network, tie, to_networkx

__all__ = [
    "GraphRun",
    "InteractionLog",
    "Tie",
    "analyse_log",
    "drawing_graph",
    "edge_log_from",
    "ego_log",
    "ego_network",
    "load_log",
    "node_key",
    "split_key",
    "tie",
    "to_networkx",
]
