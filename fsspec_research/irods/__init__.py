"""iRODS (``irods://``) on python-irodsclient."""

from .filesystem import IRODSFileSystem

__all__ = ["IRODSFileSystem"]
