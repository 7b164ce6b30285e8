"""Who connects communities (brokers) and what each community is: size, internal share, top members, topics."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable

import numpy as np

from bot.domains.audience.graph.log import node_key, split_key
from bot.domains.audience.graph.scores import Scored
from bot.domains.audience.report import CommunitySummary

SUMMARISED_COMMUNITIES = 50
BROKERS = 10
TOP_MEMBERS = 5
TOP_TERMS = 8
_HANDLE = re.compile(r"@\w+")
_URL = re.compile(r"https?://\S+|\b\w+\.(?:com|net|org|cn)\S*")
_WORD = re.compile(r"[a-z][a-z'’-]{2,}")
_CJK = re.compile(r"[\u3400-\u9fff]+")
_STOPWORDS_TEXT = """the and for you your with this that have has had are was were not but all any can our out get got
    just from they them their what when where which who why how about would could should will shall there here
    been being into over very more most some such than then too also only its it's i'm i've don't didn't
    does did doing yours ours mine his her hers she him let lets still even much many really"""
_STOPWORDS = frozenset(_STOPWORDS_TEXT.split())
_ZH_STOPWORDS_TEXT = "这个 那个 我们 你们 他们 什么 怎么 还是 就是 已经 没有 一个 可以 真的 因为 所以 但是"
_ZH_STOPWORDS = frozenset(_ZH_STOPWORDS_TEXT.split())


def find_brokers(
    scored: Scored, src: np.ndarray, dst: np.ndarray, limit: int = BROKERS
) -> list[tuple[int, tuple[int, ...], int]]:
    """(node, other communities reached, bridging edges) for the users whose distinct edges (src -> dst, engine
    node order) cross community borders, highest betweenness first (then most bridges); own accounts left out."""
    analysis = scored.analysis
    community = analysis.community
    cross = community[src] != community[dst]
    if not cross.any():
        return []
    ends = np.concatenate([src[cross], dst[cross]])
    others = np.concatenate([community[dst[cross]], community[src[cross]]])
    bridges = np.bincount(ends, minlength=analysis.n_nodes)
    candidates = np.flatnonzero((bridges > 0) & ~scored.own)
    order = candidates[np.lexsort((-bridges[candidates], -analysis.betweenness[candidates]))][:limit]
    out: list[tuple[int, tuple[int, ...], int]] = []
    for node in order:
        reached = tuple(sorted({int(c) for c in others[ends == node]}))
        out.append((int(node), reached, int(bridges[node])))
    return out


def community_summaries(
    scored: Scored,
    edge_weights: tuple[np.ndarray, np.ndarray, np.ndarray],
    texts: Iterable[tuple[str, str, str, list[str]]],
    usernames: dict[str, str],
    limit: int = SUMMARISED_COMMUNITIES,
) -> tuple[list[CommunitySummary], dict[int, tuple[str, ...]]]:
    """The largest communities: size, share of their edge weight kept inside, top members (handles; and their
    user ids, second value), top terms."""
    analysis = scored.analysis
    community = analysis.community
    if community.size == 0:
        return [], {}
    src, dst, weight = edge_weights
    n_comm = int(community.max()) + 1
    sizes = np.bincount(community, minlength=n_comm)
    inside = community[src] == community[dst]
    within = np.bincount(community[src[inside]], weights=weight[inside], minlength=n_comm)
    touching = np.bincount(community[src], weights=weight, minlength=n_comm) + np.bincount(
        community[dst[~inside]], weights=weight[~inside], minlength=n_comm
    )
    shown = min(limit, n_comm)
    position = {key: i for i, key in enumerate(scored.keys)}
    terms: list[Counter[str]] = [Counter() for _ in range(shown)]
    for platform, author, text, hashtags in texts:
        node = position.get(node_key(platform, author))
        if node is None:
            continue
        c = int(community[node])
        if c < shown:
            terms[c].update(_terms(text, hashtags))
    members = _top_members(scored, shown)
    out: list[CommunitySummary] = []
    for c in range(shown):
        share = float(within[c] / touching[c]) if touching[c] > 0 else 0.0
        out.append(
            CommunitySummary(
                id=c,
                size=int(sizes[c]),
                internal_share=round(share, 4),
                top_members=tuple(usernames.get(key) or split_key(key)[1] for key in members[c]),
                top_terms=tuple(terms[c].most_common(TOP_TERMS)),
            )
        )
    return out, {c: tuple(split_key(key)[1] for key in members[c]) for c in range(shown)}


def _top_members(scored: Scored, shown: int) -> list[list[str]]:
    """The keys of the TOP_MEMBERS best ranked users of each of the first `shown` communities, best first."""
    order = scored.order()
    community = scored.analysis.community
    ranked = order[community[order] < shown]
    by = np.argsort(community[ranked], kind="stable")  # rank order kept within each community
    nodes, groups = ranked[by], community[ranked][by]
    position = np.arange(groups.size) - np.searchsorted(groups, np.arange(shown))[groups]
    top = position < TOP_MEMBERS
    members: list[list[str]] = [[] for _ in range(shown)]
    for node, c in zip(nodes[top].tolist(), groups[top].tolist(), strict=True):
        members[c].append(scored.keys[node])
    return members


def _terms(text: str, hashtags: Iterable[str]) -> list[str]:
    out = [f"#{tag.lower()}" for tag in hashtags]
    plain = _URL.sub(" ", _HANDLE.sub(" ", text))
    plain = re.sub(r"#\w+", " ", plain)
    out.extend(w for w in _WORD.findall(plain.lower()) if w not in _STOPWORDS)
    for run in _CJK.findall(plain):
        from bot.adapters.sentiment import chinese_words

        out.extend(w for w in chinese_words(run) if len(w) >= 2 and w not in _ZH_STOPWORDS)
    return out
