"""Domain errors. Each message is written for the person who sees it in the app or on the CLI."""

from __future__ import annotations


class FERError(Exception):
    """Base class of every error this project raises on purpose."""


class InvalidImageError(FERError, ValueError):
    """The input cannot be read as an image (empty, truncated, not an image, too large)."""


class ModelLoadError(FERError):
    """A model directory is missing, corrupt, or does not match what the app expects."""


class DatasetError(FERError, ValueError):
    """A dataset file or folder is missing or malformed."""


class ArchiveError(FERError, ValueError):
    """A ZIP archive cannot be read safely (damaged, encrypted, hostile, or over a limit)."""
