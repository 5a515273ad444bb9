"""S3 and S3-compatible research clouds (``s3r://``): see :class:`ResearchS3FileSystem`."""

from .config import PRESETS, S3Settings, resolve_settings
from .filesystem import ResearchS3FileSystem

__all__ = ["PRESETS", "ResearchS3FileSystem", "S3Settings", "resolve_settings"]
