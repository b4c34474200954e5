"""Command-line values that name a dataset: a local folder or an fsspec URL (s3://bucket/prefix, ...).

`OutFolder` keeps a URL as text for the build to publish to (flows/store_build.py). `DatasetFolder`, for commands
that read a dataset, turns a URL into a local copy of what the command reads, which lives as long as the command
(object_store.local_copy).
`LocalPath` is for what is written on this machine only (an export file, an import folder, a decontamination): a URL
there is refused in one line rather than taken as a local path named `s3:`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import click

from agentfab.flows.object_store import for_reading, is_url, local_copy, local_path
from agentfab.flows.ownership import FolderError


class OutFolder(click.Path):
    """Where a build writes: a local folder (file:// allowed), or an fsspec URL kept as a string."""

    def __init__(self) -> None:
        super().__init__(file_okay=False, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and is_url(value):
            return value.rstrip("/")
        return super().convert(local_path(value) if isinstance(value, str) else value, param, ctx)


class DatasetFolder(click.Path):
    """A dataset to read: a local folder, or an fsspec URL read through a temporary local copy."""

    def __init__(self, exists: bool = True, wanted: Callable[[str], bool] = for_reading) -> None:
        super().__init__(file_okay=False, exists=exists, path_type=Path)
        self.wanted = wanted  # which of a URL dataset's files the command reads (object_store.local_copy)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and is_url(value):
            if ctx is None:
                raise click.UsageError(f"{value}: a dataset URL is read only from the command line")
            try:
                return ctx.with_resource(local_copy(value, self.wanted))
            except (FolderError, OSError) as exc:
                self.fail(str(exc) if value in str(exc) else f"{value}: {exc}", param, ctx)
        return super().convert(local_path(value) if isinstance(value, str) else value, param, ctx)


class LocalPath(click.Path):
    """A local file or folder; an fsspec URL is refused (pathlib would read s3://b/x as the folder s3:/b/x)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, str) and is_url(value):
            self.fail(f"{value}: give a local path here; only a dataset may be an object-store URL (build --out, "
                      "and the DATASET of validate, export, inspect, show and versions)", param, ctx)
        return super().convert(local_path(value) if isinstance(value, str) else value, param, ctx)
