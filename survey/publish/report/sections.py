"""Sections of the bulletin added for the below-size surveys: typical-unit case studies
(典型调查) and revisions of earlier figures.

Self-contained HTML (escaped text, a plain table per section) appended to the
bulletin's text sections when the content carries them; nothing is shown
otherwise, so a bulletin without typical units or revisions is unchanged.

Examples
--------
>>> import pandas as pd
>>> from survey.publish.report.content import BulletinContent
>>> c = BulletinContent(title="B", period="2006Q4", language="zh",
...     case_studies=pd.DataFrame({"企业": ["甲厂"], "本季": [12.5]}))
>>> "典型调查" in extra_sections(c)
True
>>> extra_sections(BulletinContent(title="B", period="2006Q4"))
''
"""

from __future__ import annotations

import html as _html
import math

import pandas as pd

from survey.publish.report.content import BulletinContent

__all__ = ["SECTION_TITLES", "extra_sections", "readable"]

#: Titles and lead sentences of the sections, per language.
SECTION_TITLES = {
    "zh": {"case_studies": "典型调查（个案资料）",
           "case_studies_lead": "以下为典型调查单位本身的数据，仅作个案分析，不是对任何总体的估计，"
                                "也不计入上文的抽样估计。",
           "revisions": "修订（r）",
           "revisions_lead": "标注 r 的数字与首次公布时不同（迟报数据到达后重新估计）。"},
    "en": {"case_studies": "Typical survey (case studies)",
           "case_studies_lead": "The figures of the typical units themselves: case studies, not an "
                                "estimate of any population, and never part of the estimates "
                                "above.",
           "revisions": "Revisions (r)",
           "revisions_lead": "Figures marked r differ from their first publication (re-estimated "
                             "after late returns)."},
}


def _e(value: object) -> str:
    return _html.escape(str(value), quote=True)


_PERCENT = ("growth", "relative_change")


def _cell(value: object, column: str) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return ".."
        return f"{value:.1%}" if column in _PERCENT else f"{value:,.2f}"
    return _e(value)


def readable(frame: pd.DataFrame, content: BulletinContent) -> pd.DataFrame:
    """The section's frame for a reader: yes/no words for true/false in the bulletin's
    language (the headers are translated where the frame is written).

    Examples
    --------
    >>> c = BulletinContent(title="B", period="2006Q4", language="zh")
    >>> readable(pd.DataFrame({"within_interval": [True, False]}), c)["within_interval"].tolist()
    ['是', '否']
    """
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_bool_dtype(out[column].dtype):
            out[column] = [content.label("yes" if v else "no") for v in out[column].tolist()]
    return out


def _plain_table(frame: pd.DataFrame, content: BulletinContent) -> str:
    head = "".join(f"<th>{_e(content.label(c))}</th>" for c in frame.columns)
    columns = list(frame.columns)
    rows = "".join("<tr>" + "".join(f"<td>{_cell(v, c)}</td>" for v, c in zip(row, columns))
                   + "</tr>" for row in readable(frame, content).itertuples(index=False))
    return f'<table class="data"><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>'


def extra_sections(content: BulletinContent) -> str:
    """HTML of the case-study and revisions sections ('' when the content has neither).

    Examples
    --------
    >>> from survey.publish.report.content import BulletinContent
    >>> extra_sections(BulletinContent(title="B", period="2006Q4"))
    ''
    """
    words = SECTION_TITLES[content.language]
    out = []
    if content.case_studies is not None and len(content.case_studies):
        out.append(f'<section id="case-studies"><h2>{_e(words["case_studies"])}</h2>'
                   f'<p>{_e(words["case_studies_lead"])}</p>'
                   f'{_plain_table(content.case_studies, content)}</section>')
    if content.revisions is not None and len(content.revisions):
        note = f"<p>{_e(content.revisions_note)}</p>" if content.revisions_note else ""
        out.append(f'<section id="revisions"><h2>{_e(words["revisions"])}</h2>'
                   f'<p>{_e(words["revisions_lead"])}</p>{_plain_table(content.revisions, content)}'
                   f'{note}</section>')
    return "".join(out)
