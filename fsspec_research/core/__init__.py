"""Shared machinery without backend knowledge: range planning, parallel fetch, block cache, file, errors."""
