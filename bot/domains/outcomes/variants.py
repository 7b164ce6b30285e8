"""How each template variant of a campaign does: its engagement rate with a 90% interval and its share of sends.

Per campaign, variant and basis (per impression, or per follower where the platform counts no views), the
variant's engagements E over its impressions D (summed over its posts, one reading each). The interval is the
5th to 95th percentile of a Beta(0.5 + E/phi, 0.5 + (D - E)/phi) posterior: Jeffreys' prior on a binomial rate,
with the counts divided by phi, the overdispersion of the variant's posts (Pearson's chi-square over its degrees
of freedom, at least 1), so posts that differ from each other more than chance allows widen the interval."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from bot.domains.outcomes.rates import BASIS_NONE, BASIS_WORDS, Posts, factorize, percent, percent_range, plural

LEVEL = 0.90


@dataclass(frozen=True)
class VariantEstimate:
    campaign: str
    variant: str
    basis: str  # "per impression" | "per follower"
    posts: int
    engagements: float
    denominator: float
    rate: float
    low: float
    high: float
    share: float  # of the campaign's posts with readings
    overdispersion: float

    def sentence(self) -> str:
        """'Variant B: 4.1% engagement (3.2–5.0%), sent 12 times'."""
        basis = "" if self.basis == BASIS_WORDS[0] else f" {self.basis}"
        sent = "once" if self.posts == 1 else ("twice" if self.posts == 2 else f"{self.posts:,} times")
        return (
            f"Variant {self.variant}: {percent(self.rate)} engagement{basis} "
            f"({percent_range(self.low, self.high)}), sent {sent}"
        )


def estimates(posts: Posts, *, level: float = LEVEL) -> list[VariantEstimate]:
    """Every campaign's variants (posts with a campaign and a basis), by campaign then best rate first."""
    from scipy.stats import beta

    mask = np.array([c is not None for c in posts.campaign.tolist()], dtype=bool) & (posts.basis != BASIS_NONE)
    chosen = posts.take(mask)
    if not len(chosen):
        return []
    variant = np.array(["" if v is None else str(v) for v in chosen.variant.tolist()], dtype=object)
    keys = np.empty(len(chosen), dtype=object)
    keys[:] = list(zip(chosen.campaign.tolist(), variant.tolist(), chosen.basis.tolist(), strict=True))
    codes, groups = factorize(keys)
    g = len(groups)
    e = np.minimum(chosen.engagements, chosen.denominator)
    d = chosen.denominator
    n = np.bincount(codes, minlength=g).astype(np.float64)
    big_e = np.bincount(codes, weights=e, minlength=g)
    big_d = np.bincount(codes, weights=d, minlength=g)
    pooled = np.where(big_d > 0, big_e / np.maximum(big_d, 1e-12), 0.0)
    p = np.clip(pooled[codes], 1e-9, 1 - 1e-9)
    pearson = np.bincount(codes, weights=(e - d * p) ** 2 / (d * p * (1 - p)), minlength=g)
    phi = np.where(n > 1, np.maximum(1.0, pearson / np.maximum(n - 1, 1)), 1.0)
    tail = (1 - level) / 2
    a = 0.5 + big_e / phi
    b = 0.5 + (big_d - big_e) / phi
    low, high = beta.ppf(tail, a, b), beta.ppf(1 - tail, a, b)
    campaign_codes, _ = factorize(chosen.campaign)
    per_campaign = np.bincount(campaign_codes, minlength=int(campaign_codes.max()) + 1)
    first = {code: i for i, code in reversed(list(enumerate(codes.tolist())))}
    found = []
    for code, (campaign, name, basis) in enumerate(groups):
        total = per_campaign[campaign_codes[first[code]]]
        found.append(
            VariantEstimate(
                campaign=str(campaign),
                variant=name or "(single text)",
                basis=BASIS_WORDS[int(basis)],
                posts=int(n[code]),
                engagements=float(big_e[code]),
                denominator=float(big_d[code]),
                rate=float(pooled[code]),
                low=float(low[code]),
                high=float(high[code]),
                share=float(n[code] / total) if total else 0.0,
                overdispersion=float(phi[code]),
            )
        )
    found.sort(key=lambda v: (v.campaign, v.basis, -v.rate, v.variant))
    return found


def share_sentence(estimate: VariantEstimate) -> str:
    return f"{plural(estimate.posts, 'post')}, {estimate.share:.0%} of the campaign's"
