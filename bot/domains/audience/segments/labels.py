"""Readable segment labels from a centroid (standardised and raw means), unique within a run; what stands out."""

from __future__ import annotations

from collections.abc import Sequence


def _z(z: dict[str, float], name: str) -> float:
    return float(z.get(name, 0.0))


def label_scores(z: dict[str, float], raw: dict[str, float]) -> dict[str, float]:
    """How strongly a centroid (standardised values z, raw means raw) fits each label; higher is better."""
    activity = max(_z(z, n) for n in ("per_week", "mention", "reply", "quote", "dm", "like", "retweet"))
    scores = {
        "complainers at risk": _z(z, "complaints") + max(0.0, -_z(z, "sentiment")) * 0.5
        if raw.get("complaints", 0.0) > 0
        else 0.0,
        "influencers": max(_z(z, "influence"), _z(z, "followers")) * 0.9,
        "big spenders": _z(z, "spent") if raw.get("spent", 0.0) > 0 else 0.0,
        "quiet buyers": _z(z, "orders") - max(0.0, activity) if raw.get("orders", 0.0) > 0 else 0.0,
        "advocates": (_z(z, "sentiment") + 0.5 * activity) * 0.9 if raw.get("sentiment", 0.0) > 0 else 0.0,
        "new faces": -_z(z, "tenure_days") * 0.8,
        "drifting away": _z(z, "recency_days") * 0.7,
        "regulars": activity * 0.7,
        "fans": max(_z(z, "like"), _z(z, "retweet")) * 0.85,
    }
    return scores


def label_for(z: dict[str, float], raw: dict[str, float]) -> str:
    scores = label_scores(z, raw)
    name, score = max(scores.items(), key=lambda item: (item[1], item[0]))
    return name if score >= 0.5 else "lurkers"


def unique_labels(labels: Sequence[str]) -> list[str]:
    """'x', 'x' -> 'x', 'x 2' (in the given order)."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        seen[label] = seen.get(label, 0) + 1
        out.append(label if seen[label] == 1 else f"{label} {seen[label]}")
    return out


def highlights(z: dict[str, float], n: int = 3) -> list[tuple[str, float]]:
    """The features that stand out most in a centroid (|z| largest), as (feature, z)."""
    items = [(k, v) for k, v in z.items() if not k.startswith("community=") and abs(v) >= 0.25]
    return sorted(items, key=lambda kv: (-abs(kv[1]), kv[0]))[:n]
