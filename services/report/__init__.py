"""Plots and the self-contained HTML experiment report (matplotlib Agg, headless)."""

from .html import build_report, write_report

__all__ = ["build_report", "write_report"]
