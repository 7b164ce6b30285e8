"""Segment labels people can read, and what sets each segment apart, in words.

A label is a role (what stands out in the segment's centroid: complainers at risk, influencers, big spenders,
quiet buyers, advocates, new faces, drifting away, regulars, fans; lurkers when nothing does) with up to two
qualities the role does not already say (new, lapsed, unhappy, happy, well-followed): "new and unhappy",
"lapsed big spenders", "well-followed regulars", "unhappy lurkers".

"influencers" is kept for a segment small enough to be the few people the graph ranks as influencers
(INFLUENCER_SHARE of the audience at most); a larger segment whose centroid leans that way is "well-followed".
Two segments that would read the same are told apart by what differs most between them ("regulars, more
orders" / "regulars, fewer orders"), never by a number.

Inputs per segment: z (standardised centroid, log scale), raw (mean of each feature in its own units) and its
size; the audience's mean is the size-weighted mean of the raw centroids.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.records import SegmentInfo

INFLUENCER_SHARE = 0.10  # a segment above this share of the audience is not "the influencers"
ROLE_MIN = 0.5  # a role's score below this: "onlookers"
QUALITY_MIN = 0.7  # a quality's standardised distance from the mean needed to name it

ACTIVITY = ("per_week", "mention", "reply", "quote", "dm", "like", "retweet")

# feature -> (more, fewer): how a label tells two look-alike segments apart
CONTRASTS: dict[str, tuple[str, str]] = {
    "orders": ("more orders", "fewer orders"),
    "spent": ("spend more", "spend less"),
    "followers": ("more followers", "fewer followers"),
    "influence": ("more reach", "less reach"),
    "per_week": ("more active", "less active"),
    "messages": ("write more", "write less"),
    "complaints": ("more complaints", "fewer complaints"),
    "sentiment": ("happier", "less happy"),
    "recency_days": ("seen less lately", "seen lately"),
    "tenure_days": ("longer known", "newer"),
    "like": ("like more", "like less"),
    "retweet": ("repost more", "repost less"),
    "mention": ("mention the shop more", "mention the shop less"),
    "reply": ("reply more", "reply less"),
    "dm": ("more DMs", "fewer DMs"),
    "quote": ("quote more", "quote less"),
    "received": ("hear more from others", "hear less from others"),
    "order_recency_days": ("ordered longer ago", "ordered lately"),
}


def _z(z: dict[str, float], name: str) -> float:
    return float(z.get(name, 0.0))


def _activity(z: dict[str, float]) -> float:
    return max(_z(z, n) for n in ACTIVITY)


def role_scores(z: dict[str, float], raw: dict[str, float], share: float = 0.0) -> dict[str, float]:
    """How strongly a centroid fits each role; higher is better (a role needs ROLE_MIN)."""
    activity = _activity(z)
    reach = max(_z(z, "influence"), _z(z, "followers"))
    return {
        "complainers at risk": _z(z, "complaints") + max(0.0, -_z(z, "sentiment")) * 0.5
        if raw.get("complaints", 0.0) > 0
        else 0.0,
        "influencers": reach * 0.9 if share <= INFLUENCER_SHARE else 0.0,
        "big spenders": _z(z, "spent") if raw.get("spent", 0.0) > 0 else 0.0,
        "quiet buyers": _z(z, "orders") - max(0.0, activity) if raw.get("orders", 0.0) > 0 else 0.0,
        "advocates": (_z(z, "sentiment") + 0.5 * activity) * 0.9 if raw.get("sentiment", 0.0) > 0 else 0.0,
        "new faces": -_z(z, "tenure_days") * 0.8,
        "drifting away": _z(z, "recency_days") * 0.7,
        "regulars": activity * 0.7,
        "fans": max(_z(z, "like"), _z(z, "retweet")) * 0.85,
    }


# a quality the role already says
_SAID = {"new": "new faces", "lapsed": "drifting away", "unhappy": "complainers at risk", "happy": "advocates"}


def qualities(z: dict[str, float], raw: dict[str, float], role: str) -> list[str]:
    """Up to two words for how the segment differs beyond its role, strongest first."""
    found: list[tuple[float, str]] = []
    if -_z(z, "tenure_days") >= QUALITY_MIN:
        found.append((-_z(z, "tenure_days"), "new"))
    if _z(z, "recency_days") >= QUALITY_MIN:
        found.append((_z(z, "recency_days"), "lapsed"))
    mood = raw.get("sentiment", 0.0)
    if mood <= -0.15 or (_z(z, "complaints") >= 1.0 and raw.get("complaints", 0.0) > 0):
        found.append((max(-_z(z, "sentiment"), _z(z, "complaints"), QUALITY_MIN), "unhappy"))
    elif mood >= 0.3:
        found.append((max(_z(z, "sentiment"), QUALITY_MIN), "happy"))
    reach = max(_z(z, "influence"), _z(z, "followers"))
    if role != "influencers" and reach >= 1.0:
        found.append((reach, "well-followed"))
    found = [item for item in found if _SAID.get(item[1]) != role]
    found.sort(key=lambda item: (-item[0], item[1]))
    return [word for _, word in found[:2]]


def label_for(z: dict[str, float], raw: dict[str, float], share: float = 0.0) -> str:
    """'new and unhappy', 'lapsed big spenders', 'well-followed regulars', 'lurkers' (see the module docstring)."""
    scores = role_scores(z, raw, share)
    role, score = max(scores.items(), key=lambda item: (item[1], item[0]))
    if score < ROLE_MIN:
        role = "lurkers"
    words = qualities(z, raw, role)
    if not words:
        return role
    if role == "new faces":  # 'new and unhappy', 'new and well-followed'
        return " and ".join(["new", *words[:1]])
    if role == "drifting away":
        return f"{' and '.join(words)} and drifting away"
    return f"{' and '.join(words)} {role}"


def _contrast(z: dict[str, float], others: Sequence[dict[str, float]]) -> str | None:
    """What differs most between this centroid and the look-alikes' mean, as a short phrase."""
    best: tuple[float, str] | None = None
    for name, (more, fewer) in CONTRASTS.items():
        mine = _z(z, name)
        theirs = sum(_z(o, name) for o in others) / len(others) if others else 0.0
        gap = mine - theirs
        if best is None or abs(gap) > best[0]:
            best = (abs(gap), more if gap > 0 else fewer)
    return best[1] if best is not None and best[0] >= 0.1 else None


def segment_labels(zs: Sequence[dict[str, float]], raws: Sequence[dict[str, float]], sizes: Sequence[int]) -> list[str]:
    """A distinct readable label per segment (see the module docstring)."""
    total = max(1, sum(sizes))
    labels = [label_for(z, raw, size / total) for z, raw, size in zip(zs, raws, sizes, strict=True)]
    out = list(labels)
    for label in set(labels):
        same = [i for i, other in enumerate(labels) if other == label]
        if len(same) < 2:
            continue
        for i in same:
            phrase = _contrast(zs[i], [zs[j] for j in same if j != i])
            out[i] = f"{label}, {phrase}" if phrase else label
    return _distinct(out, sizes)


def _distinct(labels: list[str], sizes: Sequence[int]) -> list[str]:
    """Labels still equal after the contrasts (identical centroids): by size, in words."""
    seen: dict[str, int] = {}
    out = []
    for label, size in zip(labels, sizes, strict=True):
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} (another {size:,})")
    return out


def highlights(z: dict[str, float], n: int = 3) -> list[tuple[str, float]]:
    """The features that stand out most in a centroid (|z| largest), as (feature, z)."""
    items = [(k, v) for k, v in z.items() if not k.startswith("community=") and abs(v) >= 0.25]
    return sorted(items, key=lambda kv: (-abs(kv[1]), kv[0]))[:n]


def audience_mean(segments: Sequence[SegmentInfo]) -> dict[str, float]:
    """Each feature's mean over everyone segmented: the size-weighted mean of the segments' means."""
    total = sum(s.size for s in segments)
    if not total:
        return {}
    names = {name for s in segments for name in s.centroid}
    return {name: sum(s.centroid.get(name, 0.0) * s.size for s in segments) / total for name in names}


def _times(mine: float, mean: float) -> str | None:
    if mean <= 0:
        return None
    ratio = mine / mean
    if ratio >= 1.5:
        return f"{ratio:.1f}× the average"
    if ratio <= 0.67:
        return "about none" if ratio < 0.05 else f"{ratio:.0%} of the average"
    return None


def describe(raw: dict[str, float], mean: dict[str, float], z: dict[str, float], n: int = 3) -> list[str]:
    """What sets a segment apart, in words, strongest first: 'order 3.1× as often as the average person'."""
    phrases: list[tuple[float, str]] = []

    def add(name: str, text: str) -> None:
        phrases.append((abs(_z(z, name)), text))

    for name, subject in (
        ("orders", "orders"),
        ("spent", "spending"),
        ("followers", "followers"),
        ("per_week", "activity"),
        ("messages", "messages to the shop"),
        ("like", "likes of the shop's posts"),
        ("retweet", "reposts of the shop's posts"),
    ):
        if name in raw and (told := _times(raw[name], mean.get(name, 0.0))) is not None:
            add(name, f"{subject}: {told}")
    if raw.get("orders", 1.0) == 0 and "orders" in raw:
        add("orders", "have never ordered")
    if "complaints" in raw and raw["complaints"] >= 0.5:
        add("complaints", f"{raw['complaints']:.1f} complaints each on average")
    if "sentiment" in raw:
        mood = raw["sentiment"]
        if mood >= 0.3:
            add("sentiment", "write in a happy tone")
        elif mood <= -0.15:
            add("sentiment", "write in an unhappy tone")
    if "tenure_days" in raw and _z(z, "tenure_days") <= -QUALITY_MIN:
        add("tenure_days", f"new: first seen about {raw['tenure_days']:.0f} days ago")
    if "recency_days" in raw and abs(_z(z, "recency_days")) >= QUALITY_MIN:
        add("recency_days", f"last seen about {raw['recency_days']:.0f} days ago on average")
    if "influence" in raw and _z(z, "influence") >= 1.0:
        add("influence", "the graph ranks many of them as influencers")
    phrases.sort(key=lambda item: -item[0])
    return [text for _, text in phrases[:n]] or ["close to the average person"]
