"""OpenStack Swift (``swift://``): see :class:`SwiftFileSystem`."""

from .access import PUBLIC
from .filesystem import SwiftFileSystem

__all__ = ["PUBLIC", "SwiftFileSystem"]
