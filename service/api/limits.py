"""How much of a request the API reads at all: sized for the largest legitimate request.

The largest body is a full customer batch (service.api.schemas.MAX_BATCH = 1,000 entries at
the longest email and name): about 0.5 MB as JSON, under 0.9 MB with non-ASCII names. A body
past MAX_BODY_BYTES is a 413 problem before any of it is decoded.
"""

from __future__ import annotations

MAX_BODY_BYTES = 1024 * 1024
