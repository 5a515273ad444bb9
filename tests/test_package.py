"""Package-level promises: a light import, registered entry points and cache."""

from __future__ import annotations

import subprocess
import sys

import fsspec


def test_import_is_light():
    code = (
        "import sys, fsspec_research\n"
        "heavy = {'aiohttp', 'irods', 'swiftclient', 'keystoneauth1', 'python_pachyderm', 's3fs'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_parallel_protocol_is_registered_through_entry_points():
    from fsspec_research.parallel import ParallelFileSystem

    assert fsspec.get_filesystem_class("parallel") is ParallelFileSystem


def test_cache_registered_on_import():
    from fsspec.caching import caches

    import fsspec_research  # noqa: F401

    assert caches["parallel"].__module__ == "fsspec_research.core.cache"
