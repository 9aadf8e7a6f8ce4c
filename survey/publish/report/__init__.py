"""The quarterly bulletin: one self-contained HTML file with charts, an Excel workbook, CSV files.

The renderer never computes statistics: it lays out the estimates, intervals,
growth rates and disclosure decisions it is given in a
:class:`BulletinContent`.

Examples
--------
>>> import tempfile, pandas as pd
>>> from survey.publish.report import BulletinContent, Headline, write_bulletin
>>> content = BulletinContent(title="Bulletin", period="2006Q4", headline=[Headline(
...     label="Gross output", variable="gross_output", estimate=1450.0, ci_low=1400.0,
...     ci_high=1500.0, unit="million yuan")])
>>> files = write_bulletin(content, tempfile.mkdtemp())
>>> sorted(p.name for p in [files.html, files.excel, *files.csv.values()])
['bulletin.html', 'bulletin.xlsx', 'headline.csv']
"""

from survey.publish.report.content import (
    BulletinContent,
    BulletinFiles,
    BulletinTable,
    Headline,
    ReportError,
    cell_flags,
    example_content,
    parts_from_table,
    published_frame,
)
from survey.publish.report.html import render_html, screenshot, write_bulletin
from survey.publish.report.labels import label

__all__ = [
    "BulletinContent",
    "BulletinFiles",
    "BulletinTable",
    "Headline",
    "ReportError",
    "cell_flags",
    "example_content",
    "parts_from_table",
    "published_frame",
    "render_html",
    "screenshot",
    "write_bulletin",
    "label",
]
