"""X (Twitter) over tweepy: the only package that imports tweepy.

transport (requests routed to base_url, timeouts, read retries, endpoint names), errors (vendor exceptions and
malformed answers -> bot.core.errors at one boundary, by a table), records (API answers -> models, field by field:
text unescaped once, an edit's earlier versions), platform (XPlatform).
"""

from bot.adapters.platforms.x.platform import XPlatform
from bot.adapters.platforms.x.transport import X_HOST, endpoint_of

__all__ = ["X_HOST", "XPlatform", "endpoint_of"]
