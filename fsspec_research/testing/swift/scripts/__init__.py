"""Small programs that the Swift and Keystone venvs' interpreters run by path; never imported here.

They import only the standard library and the venv's own packages (swift, cryptography, keystone, werkzeug).
"""

from __future__ import annotations

import os


def script(name: str) -> str:
    """The path of the helper program ``name`` (without ``.py``)."""
    return os.path.join(os.path.dirname(os.path.abspath(__file__)), f"{name}.py")
