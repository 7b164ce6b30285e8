"""Audience segments: features -> log1p where heavy-tailed -> standardised (community as one-hot of the largest
communities plus community-level aggregates) -> seeded K-means (k fixed, or chosen by silhouette on a sample)
-> ids matched to the previous run's centroids (stable meaning) -> readable labels -> stored as a run.

`SegmentService.run()` is the job (one daemon at a time, a lease in the database); `jobs()` schedules it."""

from bot.domains.audience.segments.clustering import Segmentation, segment_table
from bot.domains.audience.segments.labels import audience_mean, describe, highlights, label_for, segment_labels
from bot.domains.audience.segments.model import Space, design_matrix, match_ids, standardise
from bot.domains.audience.segments.service import LEASE, SegmentResult, SegmentService, segments_by_label, warm_up

__all__ = [
    "LEASE",
    "SegmentResult",
    "SegmentService",
    "Segmentation",
    "Space",
    "audience_mean",
    "describe",
    "design_matrix",
    "highlights",
    "label_for",
    "match_ids",
    "segment_labels",
    "segment_table",
    "segments_by_label",
    "standardise",
    "warm_up",
]
