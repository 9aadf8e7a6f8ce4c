"""Bundled synthetic three-channel enterprise population: loaders and code lists.

The population imitates the light-industry sector of Guangxi (the 2007 report
of the Guangxi Second Light Industry Urban Collective Industrial Federation,
see ``docs/data.md``): a business register of about 36,000 firms a year for
2004-2007 and their true quarterly figures 2004Q1-2007Q4, calibrated so that
2006 reproduces the figures the report quotes. It is synthetic: names are
invented, ids are well-formed but fictitious, figures are drawn at random.

Money is in **thousand yuan** everywhere (register, truth, returns); the
return form of the data is :data:`survey.form.DEMO_FORM`.

Loaders read the files in the package's data folder (found with
:mod:`importlib.resources`, so they work from an installed wheel; written
once by ``data/make_data.py`` at the repository root) and cache them; each
call returns a fresh copy.

Public functions
----------------
load_register, load_quarterly, load_size_thresholds, load_metadata,
published_figures, sector_figures, above_size, display_names, bundled_file;
the generator :func:`~survey.datasets.generator.generate_population` and the
returns simulator :func:`~survey.datasets.returns.simulate_returns` (both
also importable from here).
"""

from __future__ import annotations

import functools
import json
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any, Iterable

import numpy as np
import pandas as pd

from survey.errors import FrameError, PeriodError
from survey.form import DEMO_FORM
from survey.io import read_table
from survey.periods import parse_quarter

__all__ = [
    "COUNTIES",
    "DEFAULT_SEED",
    "FULL_SIZE",
    "INDICATORS",
    "INDUSTRIES",
    "MONEY_INDICATORS",
    "OWNERSHIPS",
    "PUBLISHED",
    "SimulatedReturns",
    "SyntheticPopulation",
    "YEARS",
    "ZONES",
    "above_size",
    "bundled_file",
    "display_names",
    "generate_population",
    "load_metadata",
    "load_quarterly",
    "load_register",
    "load_size_thresholds",
    "published_figures",
    "sector_figures",
    "simulate_returns",
]

#: Money indicators (thousand yuan), in the order used in returns: gross output
#: (工业总产值), export delivery (出口交货值), sales output (销售产值), main-business
#: revenue (主营业务收入), profit and tax (利税).
MONEY_INDICATORS: tuple[str, ...] = DEMO_FORM.money
#: All indicators of the quarterly truth and of the returns (``employees`` last).
INDICATORS: tuple[str, ...] = DEMO_FORM.indicators

YEARS: tuple[int, ...] = (2004, 2005, 2006, 2007)
DEFAULT_SEED = 2007
#: Firms at the start of 2004 in the full-size population (the bundled files).
FULL_SIZE = 34000

# --------------------------------------------------------------------------------------
# Code lists
# --------------------------------------------------------------------------------------
#: Counties: city, county (pinyin), county (Chinese), GB/T 2260 code, relative number of firms.
COUNTIES: tuple[tuple[str, str, str, str, float], ...] = (
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

#: Industries: code, name, Chinese class name, word used in firm names, exporter share,
#: log size effect, relative number of firms.
INDUSTRIES: tuple[tuple[str, str, str, str, float, float, float], ...] = (
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

#: Special industrial zones: name, county, industry code, share of the county's firms in
#: the zone industry.
ZONES: tuple[tuple[str, str, str, float], ...] = (
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
        "county": {county: zh for _, county, zh, _, _ in COUNTIES},
        "industry_name": {name: zh for _, name, _, zh, *_ in INDUSTRIES},
        "zone": dict(_ZONE_ZH),
        "ownership": dict(_OWNERSHIP_ZH),
    }


OWNERSHIPS: tuple[str, ...] = ("urban collective", "private", "limited liability", "other")

#: Figures of the report for 2006: figure, Chinese label, value, growth.
PUBLISHED = (
    ("above_size_gross_output", "规模以上企业工业总产值", 14.5e6, 0.32),
    ("above_size_export_delivery", "规模以上企业出口交货值", 3.2e6, 0.18),
    ("sector_gross_output", "全区二轻行业工业产值(预计)", 55.8e6, np.nan),
    ("collective_gross_output", "传统城镇集体企业工业总产值", 2.3e6, 0.10),
    ("zone_gross_output", "特色区域产业工业总产值", 2.5e6, 0.10),
    ("zone_export_delivery", "特色区域产业出口交货值", 1.6e6, 0.10),
)


# --------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------
def bundled_file(name: str) -> Traversable:
    """A file of the bundled data (found with :mod:`importlib.resources`).

    Parameters
    ----------
    name : str
        ``"register.parquet"``, ``"quarterly.parquet"``, ``"metadata.json"``,
        ``"size_thresholds.csv"`` or ``"sample_2006Q4.csv"``.

    Returns
    -------
    importlib.resources.abc.Traversable
        Open it with ``.open("rb")``; on a normal installation it is a
        :class:`pathlib.Path`.

    Raises
    ------
    FrameError
        The file is not in the package.

    Examples
    --------
    >>> bundled_file("size_thresholds.csv").name
    'size_thresholds.csv'
    """
    path = resources.files("survey.datasets").joinpath("data", name)
    if not path.is_file():
        raise FrameError(
            f"bundled data file {name!r} is missing from the package; regenerate it with "
            f"`python data/make_data.py` from the repository root"
        )
    return path


@functools.lru_cache(maxsize=None)
def _read_parquet(name: str) -> pd.DataFrame:
    return _read_bundled(name)


def _read_bundled(name: str) -> pd.DataFrame:
    """A bundled table, read by the toolkit's one table reader."""
    with resources.as_file(bundled_file(name)) as path:
        return read_table(path)

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
            if parse_quarter(p)[0] not in YEARS:
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
    table = _read_bundled("size_thresholds.csv")
    return table.assign(threshold=table["threshold"].astype(float))


def load_metadata() -> dict[str, Any]:
    """Metadata of the bundled files: seed, generator version, calibration results.

    Examples
    --------
    >>> from survey.datasets import load_metadata
    >>> load_metadata()["seed"]
    2007
    """
    return json.loads(bundled_file("metadata.json").read_text(encoding="utf-8"))


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
    return pd.DataFrame(PUBLISHED, columns=["figure", "label_zh", "value", "growth"])


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
    for figure, _, _, _ in PUBLISHED:
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


# the generator and the returns simulator, importable from here (they use the loaders above)
from survey.datasets.generator import SyntheticPopulation, generate_population  # noqa: E402
from survey.datasets.returns import ERROR_TYPES, SimulatedReturns, simulate_returns  # noqa: E402
