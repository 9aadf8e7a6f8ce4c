"""The bulletin's sentences: table titles, quality-indicator names, notes, the methods note.

Every sentence the bulletin prints that is not a label of
:mod:`survey.publish.report.labels` comes from here, in Chinese and English:
:data:`WORDING` (headline periods, table titles, quality indicators, notes, the
methods note), the ``method`` column words and note (:data:`METHOD_WORDS`,
:data:`MODEL_NOTE`), the revisions note (:data:`REVISIONS_NOTE`), the level names of
the three-level table (:data:`LEVEL_WORDS`) and the label of firms in no breakdown
class (:data:`NOT_CLASSIFIED`).

Examples
--------
>>> WORDING["en"]["quality"]["sample_size"], LEVEL_WORDS["zh"]["city"]
('Sampled firms', '市')
"""

from __future__ import annotations

__all__ = [
    "LEVEL_WORDS",
    "METHOD_WORDS",
    "MODEL_NOTE",
    "NOT_CLASSIFIED",
    "REVISIONS_NOTE",
    "WORDING",
]

#: Label of firms outside every special zone (or with another missing breakdown value).
NOT_CLASSIFIED = {"zh": "(非园区)", "en": "(none)"}

#: Every sentence of the bulletin that is not a label (headline periods, table titles,
#: quality indicators, notes, the methods note).
WORDING = {
    "zh": {
        "sector": "全行业",
        "quarter": "{period}",
        "ytd": "{year}年1-{month}月累计",
        "by": "按{what}分",
        "channel_table": "按渠道分（各渠道分别统计，企业可同时属于多个渠道）",
        "quality": {
            "take_all_response_rate": "规模以上企业回报率",
            "response_rate": "样本企业回报率",
            "weighted_response_rate": "样本企业加权回报率",
            "imputed_share": "工业总产值中插补部分比重",
            "take_all_share": "工业总产值中规模以上部分比重",
            "sample_size": "样本企业数",
            "respondents": "回报样本企业数",
            "take_all_firms": "规模以上企业数",
            "edited_values": "审核更正的数值（台账中标记为“更正”）",
            "imputed_values": "插补的数值（发布指标，台账中标记为插补）",
            "suppressed_cells": "本公报统计表中因保密不予公布的格（x）",
            "unpublished_suppressed": "保密审查中隐藏的交叉格（{tables}，本公报不发表；它们保护已发表的表）",
        },
        "above_size": "规模以上企业",
        "ytd_table": "{ytd}：全行业、规模以上企业和各渠道",
        "ytd_by": "按{what}分（{ytd}）",
        "quarter_by": "按{what}分（{period}）",
        "quarter_sector": "全行业（{period}）",
        "unit_caption": "金额单位：{unit}；增长、变异系数为百分数（%）；样本单位数为个。",
        "take_all_note": ("规模以上企业为全面调查，没有抽样误差（区间宽度为零）；"
                          "其误差来自缺报企业的插补（见数据质量指标）。"),
        "calibration": {"linear": "线性校准（广义回归估计）", "raking": "迭代比例校准（raking）",
                        "logit": "logit 校准"},
        "margin": "{what}企业数",
        "total": "{what}合计",
        "sizes": {"revenue_prev_year": "上年主营业务收入"},
        "strata_all": "全部",
        "targets_title": "目标进度",
        "target_note": ("目标为 {year} 年{what}{value}。所需年均增长 = (目标 / 本年估计值)^(1/年数) − 1，"
                        "区间由本年估计值的置信区间换算；实际增长为本年累计比上年同期增长。"),
        "not_protected": "{var}有负值，不能用规模规则做保密审查；其表格中的格按其他指标的隐藏格处理。",
        "rounding": "因四舍五入，分项之和可能不等于合计。",
        "synthetic": "本公报数字由合成数据推算，仅作演示。",
        "growth": {
            "comparable": "增长率为可比口径：同一批企业本期与上年同期相比。",
            "level": "增长率为总量口径：本期估计总量与上年同期估计总量相比（两期企业范围可能不同）。",
        },
        "methods": (
            "规模以上企业（{n_ta} 家）全面调查；缺报企业和缺报项目用同类企业的比率均值法插补"
            "（先用本企业上期数乘同类企业增速，其次用下期数回推，最后用登记册营业收入构造），"
            "插补值在数据台账中单独标记。规模以下企业按{strata}"
            "和规模分 {n_strata} 层（连同规模以上企业全面调查层共 {n_all} 层），用永久随机数抽取 {n} 家样本企业；样本权数先在层内做无回答调整，"
            "再按登记册的{margins}做{method}。\n\n"
            "报表先检查计量单位错误（误以元填报的数值除以 1000，作为修订记入台账），"
            "再按审核规则检查；违反硬性规则的数值不用，改为插补。"
            "{growth}区间为 {level} 置信区间，"
            "只反映抽样误差。表中涉及单个企业商业秘密的格（x）按最小频数、p% 规则和次级隐藏处理。"),
    },
    "en": {
        "sector": "Whole sector",
        "quarter": "{period}",
        "ytd": "January-{month_name} {year}",
        "by": "By {what}",
        "channel_table": "By reporting channel (each channel in full; a firm can be in several)",
        "quality": {
            "take_all_response_rate": "Response rate, firms above designated size",
            "response_rate": "Response rate, sampled firms",
            "weighted_response_rate": "Weighted response rate, sampled firms",
            "imputed_share": "Imputed share of gross output",
            "take_all_share": "Share of gross output from firms above designated size",
            "sample_size": "Sampled firms",
            "respondents": "Responding sampled firms",
            "take_all_firms": "Firms above designated size",
            "edited_values": "Values corrected by editing (marked edited in the ledger)",
            "imputed_values": "Imputed values of the published indicators (ledger markers)",
            "suppressed_cells": "Cells of this bulletin's tables suppressed for confidentiality (x)",
            "unpublished_suppressed": ("Suppressed cells of cross tables checked for disclosure but not "
                                       "published ({tables}; they protect the published tables)"),
        },
        "above_size": "Firms above designated size",
        "ytd_table": "{ytd}: whole sector, firms above designated size, channels",
        "ytd_by": "By {what} ({ytd})",
        "quarter_by": "By {what} ({period})",
        "quarter_sector": "Whole sector ({period})",
        "unit_caption": "Money in {unit}; growth and CV in %; sample firms are counts.",
        "take_all_note": ("Firms above designated size are enumerated completely: no sampling error "
                          "(intervals of width zero); their error comes from imputing missing returns "
                          "(see the quality indicators)."),
        "calibration": {"linear": "linear calibration (GREG)", "raking": "raking",
                        "logit": "logit calibration"},
        "margin": "firms by {what}",
        "total": "total {what}",
        "sizes": {"revenue_prev_year": "revenue of the previous year"},
        "strata_all": "none",
        "targets_title": "Progress to targets",
        "target_note": ("Target: {what} {value} in {year}. Growth needed per year = (target / this "
                        "year's estimate)^(1/years) - 1, its interval from the estimate's interval; "
                        "growth achieved is the year to date on the same period of last year."),
        "not_protected": ("{var} has negative values, so magnitude rules cannot protect it; its "
                          "cells are suppressed where another indicator's are."),
        "rounding": "Components may not add up to totals because of rounding.",
        "synthetic": "The figures of this bulletin are estimated from synthetic data (a demonstration).",
        "growth": {
            "comparable": ("Growth is on a comparable basis: the same firms this quarter and a "
                           "year earlier. "),
            "level": ("Growth is level on level: this quarter's estimated total against the "
                      "total estimated a year earlier (the firms covered may differ). "),
        },
        "methods": (
            "Firms above designated size ({n_ta}) are enumerated completely; missing returns and "
            "missing items are imputed by ratio of means within classes of similar firms (the "
            "firm's previous quarter times the class growth, else back from its next return, else "
            "constructed from its register revenue); imputed values are marked in the ledger. "
            "Firms below the size are stratified by {strata} "
            "and size class ({n_strata} strata; {n_all} with the take-all stratum); {n} firms are selected with permanent random "
            "numbers. Their weights are adjusted for nonresponse within strata and calibrated "
            "({method}) to the register's {margins}.\n\n"
            "Returns are checked for unit errors (values reported in yuan are divided by 1000 and "
            "recorded as revisions) and then by the edit rules; values failing a hard rule are "
            "replaced by imputed values. {growth}Intervals are {level} confidence intervals and "
            "reflect sampling error only. Cells that would disclose a firm's figures (x) are "
            "suppressed by the minimum-frequency and p% rules with secondary suppression."),
    },
}

#: The ``method`` column of the tables when an estimate has a model part.
METHOD_WORDS = {"zh": ("全面调查+抽样", "全面调查+抽样+模型推算"),
                "en": ("enumerated + sampled", "enumerated + sampled + model")}
#: The note of the model part.
MODEL_NOTE = {
    "zh": "“模型推算”：起点以下（不调查）企业的数值由截断模型（按行业的比率模型，用最小的已报企业拟合，"
          "以登记册上年营业收入推算）得出，其模型方差计入标准误。",
    "en": "\"model\": the firms below the cut-off (not surveyed) are predicted by the cut-off "
          "model (a ratio model per industry fitted on the smallest reporting firms, from last "
          "year's register revenue); its model variance is included in the standard errors.",
}
#: The note under the revisions section.
REVISIONS_NOTE = {
    "zh": "首次公布数与现值之差；“在区间内”指现值落在首次公布数的置信区间内。",
    "en": "Change between the first published figure and the current one; \"within interval\": "
          "the current figure lies in the first figure's confidence interval.",
}

#: Printed level names and the title of the three-level table.
LEVEL_WORDS = {"zh": {"region": "自治区", "city": "市", "county": "县（区）",
                      "title": "按区、市、县三级分（县级为小域估计，已与市级合计衔接）",
                      "methods": {"design": "抽样估计", "direct": "直接估计", "EBLUP": "小域估计（EBLUP）",
                                  "synthetic": "合成估计"}},
               "en": {"region": "region", "city": "city", "county": "county",
                      "title": "By region, city and county (counties by small-area estimation, "
                               "benchmarked to the cities)",
                      "methods": {"design": "design-based", "direct": "direct",
                                  "EBLUP": "small-area (EBLUP)", "synthetic": "synthetic"}}}
