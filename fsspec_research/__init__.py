"""fsspec filesystems for research storage, sharing one parallel range-read core.

Importing this package is cheap: it registers the ``parallel`` block cache with fsspec and nothing
else; each backend (and its client library) is imported when its protocol is first used, through
the ``fsspec.specs`` entry points.
"""

from __future__ import annotations

from .core import cache as _cache  # noqa: F401  registers cache_type="parallel"

__version__ = "0.1.0"
__all__ = ["__version__"]
