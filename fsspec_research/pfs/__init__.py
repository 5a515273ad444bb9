"""Pachyderm PFS (``pfs://``) on python-pachyderm."""

from .filesystem import PFSFileSystem

__all__ = ["PFSFileSystem"]
