"""Report stage: tables, the paper's quoted numbers, every figure module and the results index.

`save_table` / `save_figure` write results atomically (tables as CSV + Markdown, figures as PNG + PDF).
"""

from damer_lite.report.io import save_figure, save_table

__all__ = ["save_figure", "save_table"]
