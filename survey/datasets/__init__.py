"""Bundled synthetic three-channel enterprise population, and a returns simulator.

The population imitates the light-industry sector of Guangxi (the 2007 report
of the Guangxi Second Light Industry Urban Collective Industrial Federation,
see ``docs/data.md``): a business register of about 36,000 firms a year for
2004-2007 and their true quarterly figures 2004Q1-2007Q4, calibrated so that
2006 reproduces the figures the report quotes. It is synthetic: names are
invented, ids are well-formed but fictitious, figures are drawn at random.

Money is in **thousand yuan** everywhere (register, truth, returns).

Loaders read the Parquet files in the package's ``survey/datasets/data/`` folder
(written once by ``data/make_data.py`` at the repository root) and cache them; each call returns a fresh copy.

Public functions
----------------
load_register, load_quarterly, load_size_thresholds, load_metadata,
published_figures, sector_figures, above_size, generate_population,
simulate_returns (with its result :class:`SimulatedReturns`).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from survey.errors import ColumnError, FrameError, PeriodError

__all__ = [
    "display_names",
    "INDICATORS",
    "MONEY_INDICATORS",
    "SimulatedReturns",
    "SyntheticPopulation",
    "above_size",
    "generate_population",
    "load_metadata",
    "load_quarterly",
    "load_register",
    "load_size_thresholds",
    "published_figures",
    "sector_figures",
    "simulate_returns",
]

DATA_DIR = Path(__file__).resolve().parent / "data"

#: Money indicators (thousand yuan), in the order used in returns.
MONEY_INDICATORS: tuple[str, ...] = (
    "gross_output",  # 工业总产值
    "export_delivery",  # 出口交货值
    "sales_output",  # 销售产值
    "revenue",  # 主营业务收入
    "profit_tax",  # 利税
)
#: All indicators of the quarterly truth and of the returns.
INDICATORS: tuple[str, ...] = MONEY_INDICATORS + ("employees",)

YEARS: tuple[int, ...] = (2004, 2005, 2006, 2007)
DEFAULT_SEED = 2007
#: Firms at the start of 2004 in the full-size population (the bundled files).
FULL_SIZE = 34000

# --------------------------------------------------------------------------------------
# Code lists
# --------------------------------------------------------------------------------------
# city, county (pinyin), county (Chinese), GB/T 2260 code, relative number of firms
_COUNTIES: tuple[tuple[str, str, str, str, float], ...] = (
    ("Nanning", "Xingning", "兴宁区", "450102", 4.0),
    ("Nanning", "Wuming", "武鸣县", "450122", 1.0),
    ("Nanning", "Long'an", "隆安县", "450123", 0.6),
    ("Nanning", "Shanglin", "上林县", "450125", 0.6),
    ("Nanning", "Binyang", "宾阳县", "450126", 2.5),
    ("Nanning", "Heng", "横县", "450127", 1.2),
    ("Liuzhou", "Chengzhong", "城中区", "450202", 4.0),
    ("Liuzhou", "Liujiang", "柳江县", "450221", 1.0),
    ("Liuzhou", "Liucheng", "柳城县", "450222", 0.8),
    ("Liuzhou", "Luzhai", "鹿寨县", "450223", 0.8),
    ("Liuzhou", "Rong'an", "融安县", "450224", 0.6),
    ("Liuzhou", "Rongshui", "融水苗族自治县", "450225", 0.5),
    ("Guilin", "Xiufeng", "秀峰区", "450302", 3.0),
    ("Guilin", "Yangshuo", "阳朔县", "450321", 0.7),
    ("Guilin", "Lingui", "临桂县", "450322", 1.0),
    ("Guilin", "Quanzhou", "全州县", "450324", 1.0),
    ("Guilin", "Xing'an", "兴安县", "450325", 0.7),
    ("Guilin", "Pingle", "平乐县", "450330", 0.6),
    ("Guilin", "Lipu", "荔浦县", "450331", 2.5),
    ("Guilin", "Gongcheng", "恭城瑶族自治县", "450332", 0.5),
    ("Wuzhou", "Wanxiu", "万秀区", "450403", 3.0),
    ("Wuzhou", "Cangwu", "苍梧县", "450421", 0.8),
    ("Wuzhou", "Teng", "藤县", "450422", 1.0),
    ("Wuzhou", "Mengshan", "蒙山县", "450423", 0.5),
    ("Wuzhou", "Cenxi", "岑溪市", "450481", 1.5),
    ("Beihai", "Haicheng", "海城区", "450502", 2.0),
    ("Beihai", "Hepu", "合浦县", "450521", 1.0),
    ("Fangchenggang", "Gangkou", "港口区", "450602", 1.0),
    ("Fangchenggang", "Shangsi", "上思县", "450621", 0.4),
    ("Fangchenggang", "Dongxing", "东兴市", "450681", 0.6),
    ("Qinzhou", "Qinnan", "钦南区", "450702", 1.5),
    ("Qinzhou", "Lingshan", "灵山县", "450721", 1.0),
    ("Qinzhou", "Pubei", "浦北县", "450722", 0.8),
    ("Guigang", "Gangbei", "港北区", "450802", 1.5),
    ("Guigang", "Pingnan", "平南县", "450821", 1.0),
    ("Guigang", "Guiping", "桂平市", "450881", 1.5),
    ("Yulin", "Yuzhou", "玉州区", "450902", 2.5),
    ("Yulin", "Rong", "容县", "450921", 1.0),
    ("Yulin", "Luchuan", "陆川县", "450922", 2.5),
    ("Yulin", "Bobai", "博白县", "450923", 5.0),
    ("Yulin", "Xingye", "兴业县", "450924", 0.8),
    ("Yulin", "Beiliu", "北流市", "450981", 2.5),
    ("Baise", "Youjiang", "右江区", "451002", 1.2),
    ("Baise", "Tianyang", "田阳县", "451021", 0.5),
    ("Baise", "Tiandong", "田东县", "451022", 0.5),
    ("Baise", "Pingguo", "平果县", "451023", 0.5),
    ("Hezhou", "Babu", "八步区", "451102", 1.2),
    ("Hezhou", "Zhaoping", "昭平县", "451121", 0.5),
    ("Hezhou", "Zhongshan", "钟山县", "451122", 0.6),
    ("Hezhou", "Fuchuan", "富川瑶族自治县", "451123", 0.5),
    ("Hechi", "Jinchengjiang", "金城江区", "451202", 1.0),
    ("Hechi", "Nandan", "南丹县", "451221", 0.4),
    ("Hechi", "Huanjiang", "环江毛南族自治县", "451226", 0.3),
    ("Hechi", "Yizhou", "宜州市", "451281", 0.7),
    ("Laibin", "Xingbin", "兴宾区", "451302", 1.2),
    ("Laibin", "Xincheng", "忻城县", "451321", 0.4),
    ("Laibin", "Xiangzhou", "象州县", "451322", 0.4),
    ("Laibin", "Wuxuan", "武宣县", "451323", 0.4),
    ("Laibin", "Heshan", "合山市", "451381", 0.3),
    ("Chongzuo", "Jiangzhou", "江州区", "451402", 0.8),
    ("Chongzuo", "Fusui", "扶绥县", "451421", 0.6),
    ("Chongzuo", "Ningming", "宁明县", "451422", 0.4),
    ("Chongzuo", "Longzhou", "龙州县", "451423", 0.3),
    ("Chongzuo", "Pingxiang", "凭祥市", "451481", 0.5),
)

# code, name, Chinese class name, word used in firm names, exporter share,
# log size effect, relative number of firms
_INDUSTRIES: tuple[tuple[str, str, str, str, float, float, float], ...] = (
    ("4215", "woven crafts", "天然植物纤维编织工艺品制造", "编织工艺品", 0.50, -0.15, 6.0),
    ("2039", "clothes hangers", "其他木制品制造(衣架)", "衣架", 0.40, -0.10, 3.0),
    ("3451", "small hardware", "建筑、家具用金属配件制造(小五金)", "五金制品", 0.25, 0.00, 8.0),
    ("3482", "cast-iron cookware", "金属制厨用器皿及餐具制造(铁锅)", "铁锅", 0.25, 0.00, 3.0),
    ("2110", "furniture", "木质家具制造", "家具", 0.20, 0.10, 14.0),
    ("2221", "paper", "机制纸及纸板制造", "纸业", 0.05, 0.40, 6.0),
    ("3079", "plastics", "其他塑料制品制造", "塑料制品", 0.15, 0.10, 12.0),
    ("1910", "leather", "皮革鞣制加工", "皮革制品", 0.25, 0.10, 6.0),
    ("3153", "ceramics", "日用陶瓷制品制造", "陶瓷", 0.20, 0.00, 6.0),
    ("1411", "food", "糕点、面包制造", "食品", 0.05, -0.10, 14.0),
)

# zone name, county, industry code, share of the county's firms in the zone industry
_ZONES: tuple[tuple[str, str, str, float], ...] = (
    ("Bobai woven crafts", "Bobai", "4215", 0.55),
    ("Lipu clothes hangers", "Lipu", "2039", 0.50),
    ("Binyang small hardware", "Binyang", "3451", 0.45),
    ("Luchuan iron pots", "Luchuan", "3482", 0.45),
)

_CITY_ZH = {
    "Nanning": "南宁市", "Liuzhou": "柳州市", "Guilin": "桂林市", "Wuzhou": "梧州市",
    "Beihai": "北海市", "Fangchenggang": "防城港市", "Qinzhou": "钦州市", "Guigang": "贵港市",
    "Yulin": "玉林市", "Baise": "百色市", "Hezhou": "贺州市", "Hechi": "河池市",
    "Laibin": "来宾市", "Chongzuo": "崇左市",
}
_ZONE_ZH = {
    "Bobai woven crafts": "博白编织工艺品", "Lipu clothes hangers": "荔浦衣架",
    "Binyang small hardware": "宾阳小五金", "Luchuan iron pots": "陆川铁锅",
}
_OWNERSHIP_ZH = {"urban collective": "城镇集体", "private": "私营", "limited liability": "有限责任公司",
                 "other": "其他"}


def display_names(language: str = "zh") -> dict[str, dict[str, str]]:
    """Labels of the bundled code lists for tables and charts, by column.

    Parameters
    ----------
    language : {"zh", "en"}, default="zh"
        ``"zh"`` maps the pinyin / English codes of the bundled register to
        Chinese names; ``"en"`` returns empty mappings (the codes are English).

    Returns
    -------
    dict
        ``{"city": {...}, "county": {...}, "industry_name": {...}, "zone": {...},
        "ownership": {...}}``.

    Examples
    --------
    >>> display_names()["city"]["Yulin"], display_names()["zone"]["Luchuan iron pots"]
    ('玉林市', '陆川铁锅')
    """
    if language != "zh":
        return {"city": {}, "county": {}, "industry_name": {}, "zone": {}, "ownership": {}}
    return {
        "city": dict(_CITY_ZH),
        "county": {county: zh for _, county, zh, _, _ in _COUNTIES},
        "industry_name": {name: zh for _, name, _, zh, *_ in _INDUSTRIES},
        "zone": dict(_ZONE_ZH),
        "ownership": dict(_OWNERSHIP_ZH),
    }


OWNERSHIPS: tuple[str, ...] = ("urban collective", "private", "limited liability", "other")
_OWNERSHIP_SUFFIX = ("厂", "加工厂", "有限公司", "实业公司")
_TRADE_CHARS = "华兴利达丰泰源盛鑫隆恒福顺昌宏金新永和安嘉旺发聚富益通宝荣美信诚佳德鸿广海龙强康"

_SEASON = np.array([0.215, 0.245, 0.255, 0.285])  # Spring Festival dip in Q1

# Figures of the report for 2006 (thousand yuan) and growth on the same firms a year earlier
_PUBLISHED = (
    ("above_size_gross_output", "规模以上企业工业总产值", 14.5e6, 0.32),
    ("above_size_export_delivery", "规模以上企业出口交货值", 3.2e6, 0.18),
    ("sector_gross_output", "全区二轻行业工业产值(预计)", 55.8e6, np.nan),
    ("collective_gross_output", "传统城镇集体企业工业总产值", 2.3e6, 0.10),
    ("zone_gross_output", "特色区域产业工业总产值", 2.5e6, 0.10),
    ("zone_export_delivery", "特色区域产业出口交货值", 1.6e6, 0.10),
)

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_W = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_PERIOD_RE = re.compile(r"^(\d{4})Q([1-4])$")


# --------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------
def _data_file(name: str) -> Path:
    path = DATA_DIR / name
    if not path.exists():
        raise FrameError(
            f"bundled data file {path} is missing; regenerate it with "
            f"`python data/make_data.py` from the repository root"
        )
    return path


@functools.lru_cache(maxsize=None)
def _read_parquet(name: str) -> pd.DataFrame:
    return pd.read_parquet(_data_file(name))


def load_register(year: int | Iterable[int] | None = None) -> pd.DataFrame:
    """The synthetic business register, one row per firm and year (2004-2007).

    Parameters
    ----------
    year : int or iterable of int, optional
        Keep these years only (default: all of 2004-2007).

    Returns
    -------
    pandas.DataFrame
        Columns ``firm_id, year, name, city, county, county_code, industry,
        industry_name, ownership, zone, revenue_prev_year, employees, status,
        above_size, in_bureau, in_federation, in_zone`` (see ``data/README.md``).
        A new copy on every call.

    Examples
    --------
    >>> from survey.datasets import load_register
    >>> reg = load_register(2006)
    >>> bool(reg["firm_id"].is_unique), int(reg["above_size"].sum()) > 100
    (True, True)
    """
    frame = _read_parquet("register.parquet")
    if year is not None:
        years = _as_years(year)
        absent = sorted(set(years) - set(YEARS))
        if absent:
            raise PeriodError(f"no register for year(s) {absent}; the bundled register covers 2004-2007")
        frame = frame[frame["year"].isin(years)].reset_index(drop=True)
    return frame.copy()


def load_quarterly(period: str | Iterable[str] | None = None, *, year: int | None = None) -> pd.DataFrame:
    """True quarterly figures of every register firm, 2004Q1-2007Q4.

    One row per firm on the register of the year and quarter; ``operating`` is
    False (and every figure 0) in quarters before a firm's birth or after its
    closure.

    Parameters
    ----------
    period : str or iterable of str, optional
        Quarter labels such as ``"2006Q1"``.
    year : int, optional
        Keep the four quarters of this year.

    Returns
    -------
    pandas.DataFrame
        Columns ``firm_id, period, year, quarter, operating`` and the indicators
        ``gross_output, export_delivery, sales_output, revenue, profit_tax``
        (thousand yuan, in the quarter) and ``employees`` (end of quarter).

    Examples
    --------
    >>> from survey.datasets import load_quarterly
    >>> q = load_quarterly("2006Q1")
    >>> sorted(q["period"].unique())
    ['2006Q1']
    """
    frame = _read_parquet("quarterly.parquet")
    mask = np.ones(len(frame), dtype=bool)
    if period is not None:
        periods = [period] if isinstance(period, str) else list(period)
        for p in periods:
            if _parse_period(p)[0] not in YEARS:
                raise PeriodError(f"no quarterly truth for {p}; the bundled data cover 2004Q1-2007Q4")
        mask &= frame["period"].isin(periods).to_numpy()
    if year is not None:
        if int(year) not in YEARS:
            raise PeriodError(f"no quarterly truth for {year}; the bundled data cover 2004-2007")
        mask &= (frame["year"] == int(year)).to_numpy()
    if not mask.all():
        frame = frame[mask].reset_index(drop=True)
    return frame.copy()


def load_size_thresholds() -> pd.DataFrame:
    """The table of designated-size thresholds (规模以上工业标准) by year.

    Returns
    -------
    pandas.DataFrame
        Columns ``year_from, year_to, threshold`` (thousand yuan of annual
        revenue) and ``basis``.

    Examples
    --------
    >>> from survey.datasets import load_size_thresholds
    >>> t = load_size_thresholds()
    >>> t.loc[t["year_from"] == 2011, "threshold"].item()
    20000.0
    """
    return _read_thresholds().copy()


@functools.lru_cache(maxsize=None)
def _read_thresholds() -> pd.DataFrame:
    return pd.read_csv(_data_file("size_thresholds.csv"), dtype={"threshold": float})


def load_metadata() -> dict[str, Any]:
    """Metadata of the bundled files: seed, generator version, calibration results.

    Examples
    --------
    >>> from survey.datasets import load_metadata
    >>> load_metadata()["seed"]
    2007
    """
    return json.loads(_data_file("metadata.json").read_text(encoding="utf-8"))


def above_size(revenue_prev_year: Any, year: Any, *, thresholds: pd.DataFrame | None = None) -> np.ndarray:
    """Above-designated-size flag from last year's revenue and the threshold table.

    Parameters
    ----------
    revenue_prev_year : array-like of float
        Main-business revenue of the previous year, thousand yuan (NaN for new
        firms, which are then below size).
    year : int or array-like of int
        The year the flag is for (scalar or one per firm).
    thresholds : pandas.DataFrame, optional
        Columns ``year_from, year_to, threshold``; default the bundled table.

    Returns
    -------
    numpy.ndarray of bool

    Examples
    --------
    >>> from survey.datasets import above_size
    >>> above_size([4999.0, 5000.0, 15000.0], 2006).tolist()
    [False, True, True]
    >>> above_size([4999.0, 5000.0, 25000.0], 2011).tolist()
    [False, False, True]
    """
    table = _read_thresholds() if thresholds is None else thresholds
    revenue = np.asarray(revenue_prev_year, dtype=float)
    years = np.broadcast_to(np.asarray(year, dtype=np.int64), revenue.shape)
    start = table["year_from"].to_numpy(dtype=np.int64)
    stop = table["year_to"].fillna(9999).to_numpy(dtype=np.int64)
    order = np.argsort(start)
    start, stop, value = start[order], stop[order], table["threshold"].to_numpy(float)[order]
    pos = np.searchsorted(start, years, side="right") - 1
    bad = (pos < 0) | (years > stop[np.clip(pos, 0, None)])
    if bad.any():
        raise FrameError(
            f"no designated-size threshold for year {int(years[bad][0])}; "
            f"the table covers {int(start.min())}-{int(stop.max())}: add a row to it"
        )
    with np.errstate(invalid="ignore"):
        return np.nan_to_num(revenue, nan=-np.inf) >= value[pos]


def published_figures() -> pd.DataFrame:
    """The 2006 figures quoted by the federation's report, in thousand yuan.

    Returns
    -------
    pandas.DataFrame
        Columns ``figure, label_zh, value`` (thousand yuan) and ``growth``
        (on the same period of the previous year, as a fraction; NaN if not given).

    Examples
    --------
    >>> from survey.datasets import published_figures
    >>> published_figures().set_index("figure").loc["above_size_gross_output", "value"]
    np.float64(14500000.0)
    """
    return pd.DataFrame(_PUBLISHED, columns=["figure", "label_zh", "value", "growth"])


def sector_figures(
    year: int = 2006, *, register: pd.DataFrame | None = None, quarterly: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The report's aggregates computed from the true population.

    Growth compares the firms of ``year``'s group with the same firms a year
    earlier (the Chinese "same period last year" convention; firms new in
    ``year`` count 0 last year).

    Parameters
    ----------
    year : int, default=2006
    register, quarterly : pandas.DataFrame, optional
        Default the bundled register and quarterly truth.

    Returns
    -------
    pandas.DataFrame
        Columns ``figure, value, value_last_year, growth, n`` in the order of
        :func:`published_figures`.

    Examples
    --------
    >>> from survey.datasets import sector_figures
    >>> f = sector_figures(2006).set_index("figure")
    >>> round(float(f.loc["sector_gross_output", "value"]) / 1e6, 1)
    55.8
    """
    reg = load_register(year) if register is None else register[register["year"] == year]
    if quarterly is None:
        quarterly = _read_parquet("quarterly.parquet")
    annual = _annual_by_firm(quarterly, ("gross_output", "export_delivery"))
    this = annual.xs(year, level="year") if year in annual.index.get_level_values("year") else None
    if this is None:
        raise PeriodError(f"no quarterly truth for year {year}")
    last = (
        annual.xs(year - 1, level="year")
        if (year - 1) in annual.index.get_level_values("year")
        else this.iloc[0:0]
    )
    ids = reg["firm_id"]
    cur = this.reindex(ids).fillna(0.0)
    prev = last.reindex(ids).fillna(0.0) if len(last) else None
    groups = {
        "above_size": reg["above_size"].to_numpy(bool),
        "sector": np.ones(len(reg), dtype=bool),
        "collective": reg["in_federation"].to_numpy(bool),
        "zone": reg["in_zone"].to_numpy(bool),
    }
    rows = []
    for figure, _, _, _ in _PUBLISHED:
        group = next(g for g in groups if figure.startswith(g + "_"))
        var = figure[len(group) + 1 :]
        mask = groups[group]
        value = float(cur[var].to_numpy()[mask].sum())
        value_last = float(prev[var].to_numpy()[mask].sum()) if prev is not None else np.nan
        growth = value / value_last - 1.0 if value_last > 0 else np.nan
        rows.append((figure, value, value_last, growth, int(mask.sum())))
    return pd.DataFrame(rows, columns=["figure", "value", "value_last_year", "growth", "n"])


def _annual_by_firm(quarterly: pd.DataFrame, variables: Iterable[str]) -> pd.DataFrame:
    return quarterly.groupby(["year", "firm_id"], sort=False)[list(variables)].sum()


def _as_years(year: int | Iterable[int]) -> list[int]:
    if isinstance(year, (int, np.integer)):
        return [int(year)]
    return [int(y) for y in year]


def _parse_period(period: str) -> tuple[int, int]:
    match = _PERIOD_RE.match(period) if isinstance(period, str) else None
    if match is None:
        raise PeriodError(f"period {period!r} is not a quarter label like '2006Q1'")
    return int(match.group(1)), int(match.group(2))


# --------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True, eq=False)
class SyntheticPopulation:
    """A generated population: register, quarterly truth and how it was made.

    Attributes
    ----------
    register : pandas.DataFrame
        One row per firm and year (columns as :func:`load_register`).
    quarterly : pandas.DataFrame
        One row per register firm and quarter (columns as :func:`load_quarterly`).
    seed : int
        The seed used; ``generate_population(seed=seed, n_firms=n_firms)``
        reproduces the population exactly.
    n_firms : int
    metadata : dict
        Calibration targets and achieved 2006 figures.
    """

    register: pd.DataFrame
    quarterly: pd.DataFrame
    seed: int
    n_firms: int
    metadata: dict = field(default_factory=dict)


def generate_population(*, seed: int | np.random.Generator | None = DEFAULT_SEED, n_firms: int = FULL_SIZE) -> SyntheticPopulation:
    """Generate the synthetic light-industry population of Guangxi, 2004-2007.

    The generator is vectorised and deterministic given ``seed``. Firm sizes
    are heavy-tailed (a lognormal body of small firms and household workshops
    and a Pareto tail of large firms); sizes follow a random walk with
    firm-level growth noise; births and deaths happen in random quarters;
    quarterly values carry a Spring-Festival dip in Q1; a third of the firms
    export, with firm-level export shares. The 2005 and 2006 levels are then
    raked (with maps that keep every firm on its side of the size threshold)
    so that 2006 reproduces the report's figures, see :func:`published_figures`.

    Parameters
    ----------
    seed : int or numpy.random.Generator or None, default=2007
        The bundled files use 2007. A Generator is used to draw an int seed,
        which is recorded.
    n_firms : int, default=34000
        Firms on the register at the start of 2004 (about 36,000 a year
        follow). A smaller population is a miniature: the same firm-size
        distribution, with every calibrated figure scaled by
        ``n_firms / 34000`` (quick for tests and examples).

    Returns
    -------
    SyntheticPopulation

    Examples
    --------
    >>> from survey.datasets import generate_population, sector_figures
    >>> pop = generate_population(seed=1, n_firms=3400)
    >>> f = sector_figures(2006, register=pop.register, quarterly=pop.quarterly)
    >>> round(float(f.set_index("figure").loc["above_size_gross_output", "value"]) / 1e6, 3)
    1.45
    """
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63 - 1))
    elif seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63 - 1))
    seed = int(seed)
    if int(n_firms) < 500:
        raise FrameError(f"n_firms={n_firms} is too small to hold the report's groups; use at least 500")
    return _Generator(seed, int(n_firms)).run()


class _Generator:
    """The steps of :func:`generate_population` (a private helper)."""

    n_years = 5  # 2003 (only for last year's revenue of 2004) to 2007
    first_year = 2003

    def __init__(self, seed: int, n_firms: int):
        self.seed = seed
        self.n0 = n_firms
        self.rng = np.random.default_rng(seed)
        self.threshold = {y: _threshold_for_year(y) for y in range(2004, 2008)}

    # ---- demography -------------------------------------------------------------------
    def demography(self) -> None:
        rng = self.rng
        n0 = self.n0
        birth_year = [np.full(n0, self.first_year)]
        birth_q = [np.ones(n0, dtype=np.int64)]
        count = n0
        death_year = np.full(n0, 9999)
        death_q = np.zeros(n0, dtype=np.int64)
        for year in YEARS:
            n_births = int(round(0.075 * count))
            birth_year.append(np.full(n_births, year))
            birth_q.append(rng.integers(1, 5, n_births))
            death_year = np.concatenate([death_year, np.full(n_births, 9999)])
            death_q = np.concatenate([death_q, np.zeros(n_births, dtype=np.int64)])
            count += n_births
        self.birth_year = np.concatenate(birth_year)
        self.birth_q = np.concatenate(birth_q)
        self.death_year = death_year
        self.death_q = death_q
        self.n = len(self.birth_year)

    def deaths(self, size: np.ndarray) -> None:
        rng = self.rng
        prob = np.where(size < 300, 0.065, np.where(size < 5000, 0.045, 0.012))
        for year in YEARS:
            alive = (self.birth_year < year) & (self.death_year == 9999)
            dies = alive & (rng.random(self.n) < prob)
            self.death_year = np.where(dies, year, self.death_year)
            self.death_q = np.where(dies, rng.integers(0, 4, self.n), self.death_q)

    def operating(self) -> np.ndarray:
        years = np.arange(self.first_year, self.first_year + self.n_years)[None, :, None]
        quarters = np.arange(1, 5)[None, None, :]
        by, bq = self.birth_year[:, None, None], self.birth_q[:, None, None]
        dy, dq = self.death_year[:, None, None], self.death_q[:, None, None]
        started = (years > by) | ((years == by) & (quarters >= bq))
        not_ended = (years < dy) | ((years == dy) & (quarters <= dq))
        return started & not_ended

    # ---- attributes -------------------------------------------------------------------
    def attributes(self) -> None:
        rng, n = self.rng, self.n
        counties = pd.DataFrame(_COUNTIES, columns=["city", "county", "county_zh", "county_code", "weight"])
        industries = pd.DataFrame(
            _INDUSTRIES,
            columns=["industry", "industry_name", "industry_zh", "word_zh", "export_p", "size_effect", "weight"],
        )
        self.counties, self.industries = counties, industries
        w = counties["weight"].to_numpy()
        self.county = rng.choice(len(counties), size=n, p=w / w.sum())
        wi = industries["weight"].to_numpy()
        self.industry = rng.choice(len(industries), size=n, p=wi / wi.sum())
        self.zone = np.full(n, -1)
        county_names = counties["county"].to_numpy()
        codes = industries["industry"].to_numpy()
        u = rng.random(n)
        for k, (_, zone_county, zone_industry, share) in enumerate(_ZONES):
            county_idx = int(np.flatnonzero(county_names == zone_county)[0])
            industry_idx = int(np.flatnonzero(codes == zone_industry)[0])
            here = self.county == county_idx
            self.industry = np.where(here & (u < share), industry_idx, self.industry)
            self.zone = np.where(here & (self.industry == industry_idx), k, self.zone)
        self.in_zone = self.zone >= 0

        # ownership by year (index 0..4 = 2003..2007); collectives restructure over time
        initial = self.birth_year == self.first_year
        p_init = np.array([0.05, 0.53, 0.35, 0.07])
        p_new = np.array([0.0, 0.65, 0.30, 0.05])
        own0 = np.where(
            initial, rng.choice(4, size=n, p=p_init), rng.choice(4, size=n, p=p_new)
        )
        own = np.empty((n, self.n_years), dtype=np.int64)
        own[:, 0] = own0
        for t in range(1, self.n_years):
            converts = (own[:, t - 1] == 0) & (rng.random(n) < 0.04)
            own[:, t] = np.where(converts, 2, own[:, t - 1])
        self.ownership = own

        # exporters
        p_exp = industries["export_p"].to_numpy()[self.industry]
        p_exp = np.where(self.in_zone, 0.75, p_exp)
        self.exporter_u = rng.random(n)
        self.exporter = self.exporter_u < p_exp
        base = np.where(self.in_zone, logit(0.65), logit(0.30))
        self.export_logit = base + rng.normal(0.0, 0.9, n)

    # ---- sizes ------------------------------------------------------------------------
    def sizes(self) -> np.ndarray:
        rng, n = self.rng, self.n
        effect = self.industries["size_effect"].to_numpy()[self.industry]
        district = self.counties["county_code"].to_numpy()[self.county]
        is_district = np.char.endswith(district.astype(str), "02") | np.char.endswith(district.astype(str), "03")
        mu = np.log(800.0) + effect + 0.2 * is_district + 0.2 * (self.ownership[:, 0] == 0) - 0.25 * self.in_zone
        new = self.birth_year > self.first_year
        mu = mu - 0.6 * new
        body = np.exp(mu + rng.normal(0.0, 0.62, n))
        p_large = np.where(new, 0.002, np.where(self.in_zone, 0.004, 0.009))
        large = rng.random(n) < p_large
        tail = 4200.0 * (1.0 - rng.random(n)) ** (-1.0 / 1.2)
        size = np.where(large, np.minimum(tail, 4.0e5), body)
        # large firms are mostly exporters (four in five)
        self.exporter = np.where(large, self.exporter_u < 0.8, self.exporter)
        # random walk of the annual potential output, 2003..2007
        drift = np.array([0.0, 0.06, 0.10, 0.12, 0.13])
        noise = rng.normal(0.0, 0.12, (n, self.n_years))
        noise[:, 0] = 0.0
        steps = drift[None, :] + noise
        # a firm's walk starts in its birth year
        year_idx = np.arange(self.n_years)[None, :]
        start = (self.birth_year - self.first_year)[:, None]
        steps = np.where(year_idx > start, steps, 0.0)
        return size[:, None] * np.exp(np.cumsum(steps, axis=1))

    # ---- quarterly values -------------------------------------------------------------
    def quarterly_values(self, potential: np.ndarray, op: np.ndarray) -> dict[str, np.ndarray]:
        rng, n, T = self.rng, self.n, self.n_years
        shape = (n, T, 4)
        season = _SEASON[None, None, :]
        output = potential[:, :, None] * season * np.exp(rng.normal(0.0, 0.08, shape) - 0.0032) * op
        sales_ratio = np.clip(rng.normal(0.965, 0.02, (n, T))[:, :, None] + rng.normal(0.0, 0.015, shape), 0.80, 1.06)
        sales = output * sales_ratio
        revenue_ratio = np.exp(rng.normal(0.0, 0.05, n))[:, None, None]
        revenue = sales * revenue_ratio * np.exp(rng.normal(0.0, 0.03, shape))
        margin = np.clip(rng.normal(0.075, 0.035, (n, T)), -0.12, 0.30)[:, :, None]
        profit = revenue * margin
        share_logit = self.export_logit[:, None] + rng.normal(0.0, 0.25, (n, T))
        self.productivity = np.exp(rng.normal(np.log(160.0), 0.35, n))
        self.employee_noise = np.exp(rng.normal(0.0, 0.05, shape))
        return {
            "gross_output": output,
            "sales_output": sales,
            "revenue": revenue,
            "profit_tax": profit,
            "share_logit": share_logit,
        }

    # ---- calibration ------------------------------------------------------------------
    def calibrate(self, values: dict[str, np.ndarray]) -> dict[str, Any]:
        t05, t06 = 2005 - self.first_year, 2006 - self.first_year
        on06 = (self.birth_year <= 2006) & (self.death_year >= 2006)
        annual_rev = values["revenue"].sum(axis=2)
        rev05 = annual_rev[:, t05]
        threshold = self.threshold[2006]
        above = (self.birth_year < 2006) & (rev05 >= threshold)
        collective = self.ownership[:, t06] == 0
        zone = self.in_zone
        cell = 4 * above + 2 * collective + zone
        cells = np.arange(8)
        in_a, in_c, in_z = cells >= 4, (cells // 2) % 2 == 1, cells % 2 == 1
        scale = self.n0 / FULL_SIZE
        published = {name: (value * scale, growth) for name, _, value, growth in _PUBLISHED}

        # 2005 output: maps that keep each firm on its side of the threshold
        y05 = values["gross_output"].sum(axis=2)[:, t05]
        r05 = np.where(rev05 > 0, rev05, 1.0)

        def factor05(theta_firm: np.ndarray) -> np.ndarray:
            k = np.exp(theta_firm)
            up = (threshold + (r05 - threshold) * k) / r05
            down = k / (1.0 + (k - 1.0) * r05 / threshold)
            return np.where(above, up, down)

        margins05 = [
            (in_a, published["above_size_gross_output"][0] / (1 + published["above_size_gross_output"][1])),
            (in_c, published["collective_gross_output"][0] / (1 + published["collective_gross_output"][1])),
            (in_z, published["zone_gross_output"][0] / (1 + published["zone_gross_output"][1])),
        ]
        theta05 = _rake_cells(cell, on06, lambda th: y05 * factor05(th), margins05, 8)
        phi05 = factor05(theta05[cell])

        y06 = values["gross_output"].sum(axis=2)[:, t06]
        margins06 = [
            (in_a, published["above_size_gross_output"][0]),
            (in_c, published["collective_gross_output"][0]),
            (in_z, published["zone_gross_output"][0]),
            (np.ones(8, dtype=bool), published["sector_gross_output"][0]),
        ]
        theta06 = _rake_cells(cell, on06, lambda th: y06 * np.exp(th), margins06, 8)
        phi06 = np.exp(theta06[cell])

        years = np.arange(self.n_years)
        phi = np.where(years[None, :] <= t05, phi05[:, None], phi06[:, None])
        for name in ("gross_output", "sales_output", "revenue", "profit_tax"):
            values[name] = values[name] * phi[:, :, None]

        # export shares: logit shifts by (above, zone) cell and year
        base_all = np.minimum(values["sales_output"], values["gross_output"]).sum(axis=2)
        cell_x = 2 * above + zone
        # small populations may lack exporters: enlist random non-exporters of a group
        # until its exporters could deliver 1.5 times the target
        for group, name in ((above, "above_size_export_delivery"), (zone, "zone_export_delivery")):
            for t in (t05, t06):
                target = published[name][0] / ((1 + published[name][1]) if t == t05 else 1.0)
                members = group & on06
                capacity = float(base_all[members & self.exporter, t].sum())
                if capacity >= 1.5 * target:
                    continue
                candidates = np.flatnonzero(members & ~self.exporter)
                candidates = candidates[self.rng.permutation(len(candidates))]
                needed = np.searchsorted(np.cumsum(base_all[candidates, t]), 1.5 * target - capacity) + 1
                self.exporter = self.exporter.copy()
                self.exporter[candidates[:needed]] = True
        base = base_all * self.exporter[:, None]
        cells_x = np.arange(4)
        shifts = {}
        for t, growth_key in ((t05, True), (t06, False)):
            b = base[:, t]
            lg = values["share_logit"][:, t]

            def exports(th: np.ndarray, b=b, lg=lg) -> np.ndarray:
                return b * expit(lg + th)

            def target(name: str, growth_key=growth_key) -> float:
                value, growth = published[name]
                return value / (1 + growth) if growth_key else value

            margins_x = [
                (cells_x >= 2, target("above_size_export_delivery")),
                (cells_x % 2 == 1, target("zone_export_delivery")),
            ]
            shifts[t] = _rake_cells(cell_x, on06, exports, margins_x, 4)
        shift_firm = np.where(
            years[None, :] <= t05, shifts[t05][cell_x][:, None], shifts[t06][cell_x][:, None]
        )
        share = expit(values.pop("share_logit") + shift_firm) * self.exporter[:, None]
        values["export_delivery"] = share[:, :, None] * np.minimum(values["sales_output"], values["gross_output"])
        self.potential_scale = phi
        return {
            "theta_2005": theta05.round(6).tolist(),
            "theta_2006": theta06.round(6).tolist(),
            "export_shift_2005": shifts[t05].round(6).tolist(),
            "export_shift_2006": shifts[t06].round(6).tolist(),
        }

    # ---- identifiers and names ------------------------------------------------------------
    def identifiers(self) -> np.ndarray:
        rng, n = self.rng, self.n
        division = self.counties["county_code"].to_numpy().astype("S6")[self.county]
        div = np.frombuffer(division.tobytes(), dtype=np.uint8).reshape(n, 6) - ord("0")
        alphabet = np.frombuffer(_USCC_ALPHABET.encode(), dtype=np.uint8)
        small_private = (self.ownership[:, 0] == 1) & (self.potential[:, 0] < 300)
        head = np.column_stack([np.full(n, 9), np.where(small_private, 2, 1)])
        ids = None
        todo = np.ones(n, dtype=bool)
        org = np.zeros((n, 8), dtype=np.int64)
        while todo.any():
            m = int(todo.sum())
            digits = rng.integers(0, 10, (m, 8))
            letters = rng.integers(10, 31, (m, 8))
            org[todo] = np.where(rng.random((m, 8)) < 0.85, digits, letters)
            org_chars = alphabet[org]
            # GB 11714 check over base-36 values
            base36 = np.where(org_chars <= ord("9"), org_chars - ord("0"), org_chars - ord("A") + 10)
            c = (11 - (base36 @ _ORG_W) % 11) % 11
            org_check = np.where(c == 10, 29, c)  # 'X' is code 29 in the USCC alphabet
            values = np.column_stack([head, div, org, org_check])
            check = (31 - (values @ _USCC_W) % 31) % 31
            full = np.column_stack([values, check])
            ids = alphabet[full].view("S18").ravel().astype(str)
            todo = pd.Series(ids).duplicated(keep="first").to_numpy()
        return ids

    def names(self) -> np.ndarray:
        rng, n = self.rng, self.n
        chars = np.array(list(_TRADE_CHARS))
        trade = np.char.add(chars[rng.integers(0, len(chars), n)], chars[rng.integers(0, len(chars), n)])
        county_zh = self.counties["county_zh"].to_numpy().astype(str)[self.county]
        word = self.industries["word_zh"].to_numpy().astype(str)[self.industry]
        suffix = np.array(_OWNERSHIP_SUFFIX)[self.ownership[:, 0]]
        return np.char.add(np.char.add(np.char.add(county_zh, trade), word), suffix)

    # ---- assembly -------------------------------------------------------------------------
    def run(self) -> SyntheticPopulation:
        self.demography()
        self.attributes()
        size = self.sizes()
        self.deaths(size[:, 1])
        op = self.operating()
        values = self.quarterly_values(size, op)
        calibration = self.calibrate(values)
        self.potential = size * self.potential_scale
        ids = self.identifiers()
        names = self.names()
        register, quarterly = self.tables(ids, names, values, op)
        achieved = sector_figures(2006, register=register, quarterly=quarterly)
        metadata = {
            "seed": self.seed,
            "n_firms": self.n0,
            "scale": self.n0 / FULL_SIZE,
            "generator": "survey.datasets.generate_population",
            "money_unit": "thousand yuan",
            "calibration": calibration,
            "figures_2006": [
                {k: (None if isinstance(v, float) and np.isnan(v) else v) for k, v in row.items()}
                for row in achieved.to_dict("records")
            ],
        }
        return SyntheticPopulation(
            register=register, quarterly=quarterly, seed=self.seed, n_firms=self.n0, metadata=metadata
        )

    def tables(
        self, ids: np.ndarray, names: np.ndarray, values: dict[str, np.ndarray], op: np.ndarray
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        T = self.n_years
        years_all = np.arange(self.first_year, self.first_year + T)
        # employees: annual level from the (scaled) potential revenue, quarterly noise
        level = np.maximum(1.0, np.round(self.potential * 0.965 / self.productivity[:, None]))
        emp_q = np.maximum(1.0, np.round(level[:, :, None] * self.employee_noise * np.array([0.97, 1.0, 1.0, 1.0])))
        emp_q = np.where(op, emp_q, 0.0)
        values = {k: np.round(v, 1) for k, v in values.items()}
        revenue_annual = values["revenue"].sum(axis=2)

        # register: firm-years 2004..2007
        on = (self.birth_year[:, None] <= years_all[None, :]) & (self.death_year[:, None] >= years_all[None, :])
        on[:, 0] = False
        firm_idx, year_idx = np.nonzero(on)
        year = years_all[year_idx]
        is_new = self.birth_year[firm_idx] == year
        prev_rev = np.where(is_new, np.nan, revenue_annual[firm_idx, year_idx - 1])
        prev_rev = np.round(prev_rev, 1)
        status = np.where(is_new, "new", np.where(self.death_year[firm_idx] == year, "dead", "active"))
        reg_emp = np.where(is_new, level[firm_idx, year_idx], level[firm_idx, year_idx - 1]).astype(np.int64)
        ownership = np.array(OWNERSHIPS)[self.ownership[firm_idx, year_idx]]
        zone_names = np.array([z[0] for z in _ZONES], dtype=object)
        zone = np.where(self.zone[firm_idx] >= 0, zone_names[np.maximum(self.zone[firm_idx], 0)], None)
        c = self.counties
        ind = self.industries
        register = pd.DataFrame(
            {
                "firm_id": ids[firm_idx],
                "year": year.astype(np.int64),
                "name": names[firm_idx],
                "city": c["city"].to_numpy()[self.county[firm_idx]],
                "county": c["county"].to_numpy()[self.county[firm_idx]],
                "county_code": c["county_code"].to_numpy()[self.county[firm_idx]],
                "industry": ind["industry"].to_numpy()[self.industry[firm_idx]],
                "industry_name": ind["industry_name"].to_numpy()[self.industry[firm_idx]],
                "ownership": ownership,
                "zone": pd.array(zone, dtype="str"),
                "revenue_prev_year": prev_rev,
                "employees": reg_emp,
                "status": status,
                "above_size": above_size(prev_rev, year),
                "in_bureau": np.ones(len(firm_idx), dtype=bool),
                "in_federation": ownership == OWNERSHIPS[0],
                "in_zone": self.zone[firm_idx] >= 0,
            }
        )
        register = register.sort_values(["year", "firm_id"], kind="stable").reset_index(drop=True)

        # quarterly truth: the register firm-years x 4 quarters
        fi = np.repeat(firm_idx, 4)
        yi = np.repeat(year_idx, 4)
        qi = np.tile(np.arange(4), len(firm_idx))
        yr = years_all[yi]
        period = pd.Series(yr.astype(str)).str.cat(pd.Series((qi + 1).astype(str)), sep="Q")
        quarterly = {
            "firm_id": ids[fi],
            "period": period.to_numpy(),
            "year": yr.astype(np.int64),
            "quarter": (qi + 1).astype(np.int64),
            "operating": op[fi, yi, qi],
        }
        for name in MONEY_INDICATORS:
            quarterly[name] = values[name][fi, yi, qi]
        # keep export delivery <= both sales and gross output after rounding
        quarterly["export_delivery"] = np.minimum(
            quarterly["export_delivery"], np.minimum(quarterly["gross_output"], quarterly["sales_output"])
        )
        quarterly["employees"] = emp_q[fi, yi, qi].astype(np.int64)
        quarterly = pd.DataFrame(quarterly)
        quarterly = quarterly.sort_values(["year", "firm_id", "quarter"], kind="stable").reset_index(drop=True)
        return register, quarterly


def _threshold_for_year(year: int) -> float:
    """Threshold for ``year`` (thousand yuan) from the bundled table, or the rule if absent."""
    try:
        table = _read_thresholds()
    except FrameError:
        return 5000.0 if year < 2011 else 20000.0
    row = table[(table["year_from"] <= year) & (table["year_to"].fillna(9999) >= year)]
    return float(row["threshold"].iloc[0])


def _rake_cells(
    cell: np.ndarray,
    member: np.ndarray,
    contribution,
    margins: list[tuple[np.ndarray, float]],
    n_cells: int,
    *,
    tol: float = 1e-10,
    max_iter: int = 500,
) -> np.ndarray:
    """Rake cell parameters so monotone firm contributions hit margin targets.

    ``contribution(theta_firm)`` gives each firm's value for its cell's
    parameter (increasing in it); margins are boolean masks over cells.
    """
    theta = np.zeros(n_cells)
    for _ in range(max_iter):
        worst = 0.0
        for cells_in, target in margins:
            firm_in = member & cells_in[cell]

            def gap(delta: float) -> float:
                th = theta + delta * cells_in
                return float(contribution(th[cell])[firm_in].sum()) - target

            current = gap(0.0)
            worst = max(worst, abs(current) / target)
            lo, hi = -1.0, 1.0
            while gap(lo) > 0:
                lo *= 2
                if lo < -60:
                    raise FrameError("calibration of the synthetic population failed (target too small)")
            while gap(hi) < 0:
                hi *= 2
                if hi > 60:
                    raise FrameError("calibration of the synthetic population failed (target too large)")
            delta = brentq(gap, lo, hi, xtol=1e-13)
            theta = theta + delta * cells_in
        if worst < tol:
            return theta
    raise FrameError("calibration of the synthetic population did not converge")


# --------------------------------------------------------------------------------------
# Returns simulator
# --------------------------------------------------------------------------------------
ERROR_TYPES: tuple[str, ...] = ("unit_yuan", "export_gt_output", "cumulative_decrease")


@dataclass(frozen=True, kw_only=True, eq=False)
class SimulatedReturns:
    """Returns as firms would send them for one quarter, and the injected errors.

    Attributes
    ----------
    returns : pandas.DataFrame
        ``firm_id, period, responded, operating`` and, for each indicator,
        ``{var}_ytd`` (cumulative year to date; for ``employees`` the average of
        the end-of-quarter headcounts over the year to date) and
        ``{var}_ytd_last_year`` (the same months of last year). Thousand yuan.
        NaN for nonrespondents and missing items.
    injected : pandas.DataFrame
        ``firm_id, period, variable, error_type, true_value, reported_value``:
        every reported value that differs from the truth because of an
        injected error (error_type in ``unit_yuan``, ``export_gt_output``,
        ``cumulative_decrease``).
    seed : int
        The seed used (reproduces the returns).
    period : str
    """

    returns: pd.DataFrame
    injected: pd.DataFrame
    seed: int
    period: str


def simulate_returns(
    firms: Any,
    period: str,
    *,
    seed: int | np.random.Generator | None = None,
    unit_nonresponse: float = 0.10,
    item_nonresponse: float = 0.02,
    error_rate: float = 0.02,
    truth: pd.DataFrame | None = None,
) -> SimulatedReturns:
    """Simulate one quarter's returns of the given firms (year-to-date convention).

    Values are the true cumulative figures from the quarterly truth, then
    spoiled by unit nonresponse (more likely for small firms), item
    nonresponse and reporting errors. Every error is listed in ``injected``.

    Parameters
    ----------
    firms : sequence of str or pandas.DataFrame
        Firm ids (USCC), or a frame with a ``firm_id`` column (a census of the
        above-size firms, or a drawn sample). Each must be on the register of
        the period's year. Firms that have closed stay in the returns with
        ``operating`` False; when they respond, their values are the true
        zeros (the enumerator confirms the closure).
    period : str
        A quarter label such as ``"2006Q3"``.
    seed : int or numpy.random.Generator or None, default=None
        Recorded in the result. The draws also depend on the period, so the
        same seed gives independent draws for different quarters.
    unit_nonresponse : float, default=0.10
        Average probability that a firm does not return the form. A firm's
        propensity falls with its size (the smallest are about four times as
        likely to fail as the largest).
    item_nonresponse : float, default=0.02
        Probability that a value of a returned form is missing.
    error_rate : float, default=0.02
        Probability that a returned form carries one reporting error:
        ``unit_yuan`` (all money values of the year to date in yuan, i.e.
        1000 times too large), ``export_gt_output`` (export delivery above
        gross output) or ``cumulative_decrease`` (a year-to-date value below
        last quarter's, typically the quarter's own value; only from Q2).
    truth : pandas.DataFrame, optional
        Quarterly truth (columns as :func:`load_quarterly`); default the
        bundled one.

    Returns
    -------
    SimulatedReturns

    Examples
    --------
    >>> from survey.datasets import load_register, simulate_returns
    >>> firms = load_register(2006).query("above_size")["firm_id"]
    >>> sim = simulate_returns(firms, "2006Q2", seed=1, unit_nonresponse=0.0,
    ...                        item_nonresponse=0.0, error_rate=0.0)
    >>> bool(sim.returns["responded"].all()), len(sim.injected)
    (True, 0)
    """
    year, quarter = _parse_period(period)
    for name, value in (
        ("unit_nonresponse", unit_nonresponse),
        ("item_nonresponse", item_nonresponse),
        ("error_rate", error_rate),
    ):
        if not (0.0 <= float(value) <= 1.0):
            raise ColumnError(f"{name}={value} must be a probability in [0, 1]")
    if isinstance(firms, pd.DataFrame):
        if "firm_id" not in firms.columns:
            raise ColumnError("the firms frame has no 'firm_id' column; pass ids or a frame with firm_id")
        firms = firms["firm_id"]
    ids = pd.Index(pd.Series(list(firms) if not isinstance(firms, pd.Series) else firms, dtype="str"))
    if ids.has_duplicates:
        dup = ids[ids.duplicated()].unique()[:5].tolist()
        raise FrameError(f"firm ids given more than once: {dup}; pass each firm once")

    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**63 - 1))
    elif seed is None:
        seed = int(np.random.SeedSequence().entropy % (2**63 - 1))
    seed = int(seed)
    rng = np.random.default_rng([seed, year, quarter])

    table = _ytd_table(period) if truth is None else _ytd_frame(truth, year, quarter)
    pos = table.index.get_indexer(ids)
    if (pos < 0).any():
        missing = ids[pos < 0][:5].tolist()
        raise FrameError(
            f"{int((pos < 0).sum())} firm(s) are not on the register of {year} "
            f"(first: {missing}); pass firms of that year's register"
        )
    values = {col: table[col].to_numpy()[pos] for col in table.columns}
    n = len(ids)
    current = {var: values[f"{var}_ytd"].astype(float).copy() for var in INDICATORS}
    last = {var: values[f"{var}_ytd_last_year"].astype(float).copy() for var in INDICATORS}
    previous = {var: values[f"{var}_ytd_prev_quarter"] for var in MONEY_INDICATORS}
    operating = values["operating"].astype(bool)

    # unit nonresponse, decreasing with size
    size = np.maximum(values["gross_output_ytd"], values["gross_output_ytd_last_year"]) * 4.0 / quarter
    propensity = 1.0 / (1.0 + np.log1p(np.maximum(size, 0.0) / 1000.0))
    prob = np.clip(unit_nonresponse * propensity / propensity.mean(), 0.0, 1.0) if n else propensity
    responded = rng.random(n) >= prob

    # item nonresponse
    item_missing = {}
    for var in INDICATORS:
        item_missing[var] = (rng.random(n) < item_nonresponse, rng.random(n) < item_nonresponse)

    # reporting errors
    has_error = responded & (rng.random(n) < error_rate)
    ok_cur = {var: ~item_missing[var][0] for var in MONEY_INDICATORS}
    app_unit = np.zeros(n, dtype=bool)
    for var in MONEY_INDICATORS:
        app_unit |= ok_cur[var] & (current[var] != 0)
    app_export = ok_cur["gross_output"] & ok_cur["export_delivery"] & (current["gross_output"] > 0)
    decrease_ok = np.column_stack(
        [ok_cur[var] & (previous[var] > 0) & (quarter > 1) for var in MONEY_INDICATORS]
    )
    app_decrease = decrease_ok.any(axis=1)
    keys = rng.random((n, 3))
    applicable = np.column_stack([app_unit, app_export, app_decrease])
    keys = np.where(applicable, keys, -1.0)
    kind = np.argmax(keys, axis=1)
    has_error &= applicable.any(axis=1)
    decrease_keys = np.where(decrease_ok, rng.random((n, len(MONEY_INDICATORS))), -1.0)
    decrease_var = np.argmax(decrease_keys, axis=1)
    export_factor = rng.uniform(1.1, 3.0, n)
    shrink = rng.uniform(0.5, 0.95, n)

    injected = []
    reported = {var: current[var].copy() for var in INDICATORS}
    unit_rows = has_error & (kind == 0)
    for var in MONEY_INDICATORS:
        hit = unit_rows & ok_cur[var] & (current[var] != 0)
        reported[var] = np.where(hit, current[var] * 1000.0, reported[var])
        injected.append(_injected_rows(ids, period, var, "unit_yuan", hit, current[var], reported[var]))
    hit = has_error & (kind == 1)
    new_export = current["gross_output"] * export_factor
    reported["export_delivery"] = np.where(hit, new_export, reported["export_delivery"])
    injected.append(
        _injected_rows(ids, period, "export_delivery", "export_gt_output", hit, current["export_delivery"],
                       reported["export_delivery"])
    )
    for j, var in enumerate(MONEY_INDICATORS):
        hit = has_error & (kind == 2) & (decrease_var == j)
        quarter_only = current[var] - previous[var]
        value = np.where(quarter_only < previous[var], quarter_only, previous[var] * shrink)
        value = np.round(value, 1)
        value = np.where(value >= previous[var], previous[var] * 0.5, value)
        reported[var] = np.where(hit, value, reported[var])
        injected.append(_injected_rows(ids, period, var, "cumulative_decrease", hit, current[var], reported[var]))

    out: dict[str, Any] = {
        "firm_id": ids.to_numpy(),
        "period": np.full(n, period, dtype=object),
        "responded": responded,
        "operating": operating,
    }
    for var in INDICATORS:
        cur = np.where(responded & ~item_missing[var][0], reported[var], np.nan)
        prev = np.where(responded & ~item_missing[var][1], last[var], np.nan)
        out[f"{var}_ytd"] = cur
        out[f"{var}_ytd_last_year"] = prev
    returns = pd.DataFrame(out)
    returns["period"] = returns["period"].astype("str")
    injected_frame = pd.concat(injected, ignore_index=True)
    return SimulatedReturns(returns=returns, injected=injected_frame, seed=seed, period=period)


def _injected_rows(ids, period, var, error_type, hit, true_value, reported_value) -> pd.DataFrame:
    idx = np.flatnonzero(hit)
    return pd.DataFrame(
        {
            "firm_id": pd.array(ids.to_numpy()[idx], dtype="str"),
            "period": pd.array(np.full(len(idx), period, dtype=object), dtype="str"),
            "variable": pd.array(np.full(len(idx), var, dtype=object), dtype="str"),
            "error_type": pd.array(np.full(len(idx), error_type, dtype=object), dtype="str"),
            "true_value": true_value[idx].astype(float),
            "reported_value": reported_value[idx].astype(float),
        }
    )


@functools.lru_cache(maxsize=64)
def _ytd_table(period: str) -> pd.DataFrame:
    year, quarter = _parse_period(period)
    frame = _read_parquet("quarterly.parquet")
    if not (frame["year"] == year).any():
        raise PeriodError(f"no quarterly truth for {period}; the bundled data cover 2004Q1-2007Q4")
    return _ytd_frame(frame, year, quarter)


def _ytd_frame(truth: pd.DataFrame, year: int, quarter: int) -> pd.DataFrame:
    """Per firm of ``year``'s register: ytd, ytd of the previous quarter and of last year."""
    missing = [c for c in ("firm_id", "year", "quarter", *INDICATORS) if c not in truth.columns]
    if missing:
        raise ColumnError(f"the quarterly truth lacks columns {missing}")
    year_col = truth["year"].to_numpy()
    quarter_col = truth["quarter"].to_numpy()
    this = truth[year_col == year]
    if this.empty:
        raise PeriodError(f"no quarterly truth for year {year}")
    cols = list(INDICATORS)

    def ytd(frame: pd.DataFrame, upto: int) -> pd.DataFrame:
        part = frame[frame["quarter"].to_numpy() <= upto]
        grouped = part.groupby("firm_id", sort=False)
        sums = grouped[list(MONEY_INDICATORS)].sum()
        sums["employees"] = grouped["employees"].mean()
        return sums

    cur = ytd(this, quarter)
    index = pd.Index(this["firm_id"].unique(), dtype="str")
    cur = cur.reindex(index)
    result = cur[cols].add_suffix("_ytd")
    prev = ytd(this, quarter - 1).reindex(index).fillna(0.0) if quarter > 1 else cur * 0.0
    for var in MONEY_INDICATORS:
        result[f"{var}_ytd_prev_quarter"] = prev[var].to_numpy()
    last_year = truth[(year_col == year - 1) & (quarter_col <= quarter)]
    if last_year.empty:
        last = pd.DataFrame(np.nan, index=index, columns=cols)
    else:
        last = ytd(last_year, quarter).reindex(index).fillna(0.0)
    for var in cols:
        result[f"{var}_ytd_last_year"] = last[var].to_numpy()
    op = this[quarter_col[year_col == year] == quarter].set_index("firm_id")["operating"] if "operating" in this else None
    result["operating"] = op.reindex(index).fillna(False).to_numpy(bool) if op is not None else True
    return result
