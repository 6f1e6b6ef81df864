"""Exports: a list, with the list's filters and visibility, streamed as CSV or XLSX."""
