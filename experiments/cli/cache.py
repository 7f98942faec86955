"""``replyall cache info|clear``: the on-disk cache of organisation graphs.

Building a large organisation takes seconds; runs that share one (a sweep with
``common_org``, repeated ``replyall run`` with the same seed) load it from the cache instead
(:mod:`replyall_storm.model.graph_cache`). The cache lives in ``$REPLYALL_CACHE`` (default
``~/.cache/replyall-storm``) and keeps to ``$REPLYALL_CACHE_MAX_MB`` megabytes (default
2048), the least recently used files going first.
"""

from __future__ import annotations

import os

import click

from replyall_storm.model.graph_cache import ENV_VAR, LIMIT_VAR, MB, cache_info, clear_cache


@click.group()
def cache() -> None:
    """Show or empty the cache of organisation graphs ($REPLYALL_CACHE)."""


@cache.command()
def info() -> None:
    """Where the cache is, what it holds, and its size limit."""
    i = cache_info()
    where = f"${ENV_VAR}" if os.environ.get(ENV_VAR) else f"the default; ${ENV_VAR} sets it"
    limit = (f"the default; ${LIMIT_VAR} sets it" if not os.environ.get(LIMIT_VAR, "").strip()
             else f"${LIMIT_VAR}")
    click.echo(f"folder  {i.folder} ({where})")
    click.echo(f"files   {i.files} organisations, {i.bytes / MB:.1f} MB")
    click.echo(f"limit   {i.limit_bytes / MB:,.0f} MB ({limit}); the least recently used files "
               "go first" if i.limit_bytes else f"limit   0 MB (${LIMIT_VAR}): nothing is kept")


@cache.command()
def clear() -> None:
    """Delete every cached organisation (they are rebuilt, identical, when needed)."""
    i = cache_info()
    removed = clear_cache(i.folder)
    click.echo(f"removed {removed} organisations ({i.bytes / MB:.1f} MB) from {i.folder}")
