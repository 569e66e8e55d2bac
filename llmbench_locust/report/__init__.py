"""The HTML report: an output folder's files → one self-contained, offline ``report.html``."""

from .build import build_report

__all__ = ["build_report"]
