"""Chinese and English labels of the bulletin.

Every word the bulletin prints comes from :data:`LABELS`, so a bulletin in
Chinese and one in English have the same structure and the same numbers.
Keys that are not in the dictionary (a county name, a variable the dictionary
does not know) are printed as they are. Interval labels name the confidence
level of the bulletin (``{level}`` in :data:`LABELS`: "90% 置信区间" when
the level is 0.9).
"""

from __future__ import annotations

from typing import Literal

from survey.errors import ReportError

__all__ = ["LABELS", "LANGUAGES", "label", "percent"]

LANGUAGES = ("zh", "en")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        # sections
        "headline": "Headline figures",
        "charts": "Charts",
        "tables": "Tables",
        "quality": "Quality indicators",
        "methods": "Methods note",
        "notes": "Notes",
        "legend": "Symbols",
        "period": "Reference period",
        "contents": "Contents",
        "generated_by": "Produced with the survey toolkit; all figures are estimates from the survey returns.",
        # headline
        "interval": "{level} confidence interval",
        "growth_label": "Year-on-year growth (comparable basis)",
        "growth_label_level": "Year-on-year growth (level on level)",
        "not_available": "not available",
        # charts
        "chart_series": "Quarterly estimates with {level} confidence band",
        "chart_growth": "Year-on-year growth by domain, with {level} confidence interval",
        "chart_model": "includes the model part (firms below the cut-off, not surveyed)",
        "chart_parts": "Share of the estimate by part",
        "share": "Share of the estimate",
        "growth_axis": "Growth (%)",
        "band": "{level} interval",
        # table columns
        "method": "Method",
        "variable": "Indicator",
        "estimate": "Estimate",
        "se": "SE",
        "cv": "CV (%)",
        "ci_low": "{level} CI low",
        "ci_high": "{level} CI high",
        "df": "Degrees of freedom",
        "n": "Sample firms",
        "ci": "{level} CI",
        "growth_ci": "Growth {level} CI (%)",
        "code_of": "{what} code",
        "code": "Code",
        "level": "Level",
        "levels": "region, city, county",
        "unit_caption": "Money in {unit}; CV and growth in %",
        "targets": "Progress to targets",
        "chart_targets": "Growth needed per year to reach the target and growth achieved, with {level} interval",
        "target": "Target",
        "target_year": "Target year",
        "needed": "Growth needed per year (%)",
        "needed_ci": "Needed, {level} CI (%)",
        "achieved": "Growth achieved (%)",
        "achieved_ci": "Achieved, {level} CI (%)",
        "needed_bar": "Growth needed per year",
        "achieved_bar": "Growth achieved (year to date)",
        "year": "Year",
        "needed_ci_low": "Needed low (%)",
        "needed_ci_high": "Needed high (%)",
        "growth": "Growth (%)",
        "growth_se": "SE of growth (pp)",
        "growth_ci_low": "Growth low (%)",
        "growth_ci_high": "Growth high (%)",
        "flag": "Flag",
        "indicator": "Indicator",
        "value": "Value",
        "firm_id": "Firm id",
        "name": "Name",
        "last_year": "Same quarter last year",
        "first": "First published",
        "latest": "Latest",
        "change": "Revision",
        "relative_change": "Revision (%)",
        "within_interval": "Within the first interval",
        "yes": "yes",
        "no": "no",
        "symbol": "Symbol",
        "meaning": "Meaning",
        "domain": "Domain",
        "part": "Part",
        "unit": "Unit",
        "label": "Figure",
        # symbols
        "sym_x": "confidential: suppressed to protect individual enterprises",
        "sym_F": "too unreliable to be published (CV above {unreliable:.0%})",
        "sym_E": "use with caution (CV above {caution:.0%})",
        "sym_na": "not available",
        "sym_empty": "nil (no enterprises in the cell)",
        "flag_counts": "Flagged table cells",
        "flag_counts_value": "{x} suppressed (x), {F} too unreliable (F), {E} use with caution (E)",
        # parts of the combined estimate
        "take-all": "Take-all (complete enumeration)",
        "sampled": "Sampled (weighted sample)",
        "model": "Model (cut-off part)",
        # indicators
        "gross_output": "Gross industrial output",
        "export_delivery": "Export delivery value",
        "sales_output": "Sales output",
        "revenue": "Main business revenue",
        "profit_tax": "Profit and tax",
        "employees": "Employees",
        # breakdowns
        "region": "Region",
        "city": "City",
        "county": "County",
        "industry": "Industry",
        "industry_name": "Industry",
        "channel": "Channel",
        "zone": "Special industrial zone",
        "size_class": "Size class",
        "ownership": "Ownership",
        # channels
        "bureau": "Statistics bureau",
        "federation": "Federation",
        # quality indicators
        "response_rate": "Unit response rate",
        "weighted_response_rate": "Weighted response rate",
        "item_response_rate": "Item response rate",
        "imputed_share": "Imputed share of the total",
        "take_all_share": "Share from take-all enterprises",
        "model_share": "Share from the model part",
        "median_cv": "Median CV of published cells",
        "max_cv": "Largest CV of published cells",
        "sample_size": "Sample size",
        "respondents": "Respondents",
        "calibration_adjustment_min": "Smallest calibration adjustment g (weight / design weight)",
        "calibration_adjustment_max": "Largest calibration adjustment g (weight / design weight)",
    },
    "zh": {
        "headline": "主要指标",
        "charts": "图表",
        "tables": "统计表",
        "quality": "数据质量指标",
        "methods": "方法说明",
        "notes": "注释",
        "legend": "符号说明",
        "period": "统计时期",
        "contents": "目录",
        "generated_by": "由 survey 工具包生成；所有数字均为根据调查报表推算的估计值。",
        "interval": "{level} 置信区间",
        "growth_label": "比上年同期增长（可比口径）",
        "growth_label_level": "比上年同期增长（总量口径）",
        "not_available": "暂无数据",
        "chart_series": "分季度估计值及 {level} 置信带",
        "chart_growth": "分组比上年同期增长及 {level} 置信区间",
        "chart_model": "含模型推算部分（起点以下未调查企业）",
        "chart_parts": "估计值构成（按推算部分）",
        "share": "占估计值比重",
        "growth_axis": "增长（%）",
        "band": "{level} 置信区间",
        "method": "估计方法",
        "variable": "指标",
        "estimate": "估计值",
        "se": "标准误",
        "cv": "变异系数（%）",
        "ci_low": "{level} 置信下限",
        "ci_high": "{level} 置信上限",
        "df": "自由度",
        "n": "样本单位数",
        "ci": "{level} 置信区间",
        "growth_ci": "增长的 {level} 置信区间（%）",
        "code_of": "{what}代码",
        "code": "代码",
        "level": "层级",
        "levels": "区、市、县",
        "unit_caption": "金额单位：{unit}；变异系数和增长为 %",
        "targets": "目标进度",
        "chart_targets": "实现目标所需年均增长与实际增长及 {level} 置信区间",
        "target": "目标值",
        "target_year": "目标年份",
        "needed": "所需年均增长（%）",
        "needed_ci": "所需增长 {level} 置信区间（%）",
        "achieved": "实际增长（%）",
        "achieved_ci": "实际增长 {level} 置信区间（%）",
        "needed_bar": "所需年均增长",
        "achieved_bar": "实际增长（累计比上年同期）",
        "year": "年份",
        "needed_ci_low": "所需增长下限（%）",
        "needed_ci_high": "所需增长上限（%）",
        "growth": "增长（%）",
        "growth_se": "增长标准误（百分点）",
        "growth_ci_low": "增长下限（%）",
        "growth_ci_high": "增长上限（%）",
        "flag": "标记",
        "indicator": "指标",
        "value": "数值",
        "firm_id": "统一社会信用代码",
        "name": "名称",
        "last_year": "上年同期",
        "first": "首次公布",
        "latest": "最新估计",
        "change": "修订量",
        "relative_change": "修订幅度（%）",
        "within_interval": "在首次公布的区间内",
        "yes": "是",
        "no": "否",
        "symbol": "符号",
        "meaning": "含义",
        "domain": "分组",
        "part": "部分",
        "unit": "单位",
        "label": "名称",
        "sym_x": "涉及单个企业商业秘密，不予公布",
        "sym_F": "可靠性太低，不予公布（变异系数超过 {unreliable:.0%}）",
        "sym_E": "谨慎使用（变异系数超过 {caution:.0%}）",
        "sym_na": "暂无数据",
        "sym_empty": "无（该格无企业）",
        "flag_counts": "统计表中带标记的格",
        "flag_counts_value": "不予公布 {x} 格（x），可靠性太低 {F} 格（F），谨慎使用 {E} 格（E）",
        "take-all": "全面调查部分（规模以上）",
        "sampled": "抽样推算部分",
        "model": "模型推算部分（重点调查以外）",
        "gross_output": "工业总产值",
        "export_delivery": "出口交货值",
        "sales_output": "销售产值",
        "revenue": "主营业务收入",
        "profit_tax": "利税",
        "employees": "从业人员",
        "region": "地区",
        "city": "市",
        "county": "县（市、区）",
        "industry": "行业",
        "industry_name": "行业",
        "channel": "渠道",
        "zone": "特色产业园区",
        "size_class": "规模",
        "ownership": "经济类型",
        "bureau": "统计局渠道",
        "federation": "联社渠道",
        "response_rate": "单位回收率",
        "weighted_response_rate": "加权回收率",
        "item_response_rate": "项目回答率",
        "imputed_share": "插补值占总量比重",
        "take_all_share": "全面调查部分占比",
        "model_share": "模型推算部分占比",
        "median_cv": "公布数据变异系数中位数",
        "max_cv": "公布数据最大变异系数",
        "sample_size": "样本量",
        "respondents": "回答单位数",
        "calibration_adjustment_min": "校准调整系数g最小值（权数/设计权数）",
        "calibration_adjustment_max": "校准调整系数g最大值（权数/设计权数）",
    },
}


def percent(level: float) -> str:
    """A confidence level as printed in labels: ``0.95`` -> ``"95%"``, ``0.975`` -> ``"97.5%"``.

    Examples
    --------
    >>> percent(0.9), percent(0.975)
    ('90%', '97.5%')
    """
    return f"{round(100 * float(level), 6):g}%"


def label(key: object, language: Literal["zh", "en"] = "en", *, level: float = 0.95,
          growth: Literal["comparable", "level"] = "comparable") -> str:
    """The label of ``key`` in ``language``; unknown keys are returned as text.

    Parameters
    ----------
    key : object
        A label key (``"gross_output"``, ``"take-all"``, ``"cv"``...) or any
        value (a county name), which is returned as ``str(key)``.
    language : {"zh", "en"}, default="en"
        Language of the label.
    level : float, default=0.95
        Confidence level named by the interval labels (``"ci_low"``,
        ``"interval"``, ``"band"``, the chart titles).
    growth : {"comparable", "level"}, default="comparable"
        Basis of the growth rates named by ``"growth_label"``.

    Returns
    -------
    str

    Examples
    --------
    >>> label("gross_output", "zh")
    '工业总产值'
    >>> label("gross_output")
    'Gross industrial output'
    >>> label("Bobai")
    'Bobai'
    >>> label("interval", "zh", level=0.9), label("ci_low", level=0.99)
    ('90% 置信区间', '99% CI low')
    """
    words = LABELS.get(language)
    if words is None:
        raise ReportError(f"language={language!r} is not supported; use one of {LANGUAGES}.")
    text = str(key)
    if text == "growth_label" and growth == "level":
        text = "growth_label_level"
    word = words.get(text, str(key))
    return word.replace("{level}", percent(level)) if text in words else word
