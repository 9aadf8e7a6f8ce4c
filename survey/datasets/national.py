"""A national-scale synthetic register and its quarterly returns, written straight to Parquet.

The bundled population (:func:`survey.datasets.generate_population`) is a
province's light industry, ~36,000 firms. To exercise the out-of-core path
(:mod:`survey.engine`, :mod:`survey.estimation.outofcore`) anyone can make a
national register of any size, by default 30 million firms (China's 2018
economic census counted about 21.8 million legal-entity units):

* :func:`generate_national_register` writes the register in chunks of
  ``chunk_size`` firms (memory: one chunk), with the structure of the
  bundled register: USCC ids (unique by construction, valid check
  characters), 31 provinces with their GB/T 2260 codes, prefectures and
  counties, 31 manufacturing divisions (GB/T 4754), ownership, specialised
  industrial zones, last year's revenue (heavy-tailed: a lognormal body and
  a Pareto tail), employees, status, the above-designated-size flag and the
  channel flags (``in_bureau``, ``in_federation``, ``in_zone``);
* :func:`generate_national_returns` writes, for the take-all units (above
  designated size) and the units of a sample, one Parquet file of returns per
  quarter in the year-to-date convention of
  :func:`survey.datasets.simulate_returns` (``{var}_ytd`` and
  ``{var}_ytd_last_year``, unit and item nonresponse).

Randomness is counter-based: every number is a hash (splitmix64) of the seed,
a stream number and the firm (its position for the register, its id for the
returns), so any chunk size gives the same files, and the returns of a firm
do not depend on which other firms are asked. The seed and the settings are
recorded in the Parquet metadata (key ``survey.dataset``).
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np
import pandas as pd

from survey.datasets import INDICATORS, MONEY_INDICATORS, above_size
from survey.errors import FrameError, PeriodError

__all__ = ["NATIONAL_FIRMS", "NATIONAL_REGISTER_COLUMNS", "NATIONAL_REGISTER_DEFAULTS", "NationalRegister",
           "generate_national_register", "generate_national_returns", "read_dataset_metadata"]

#: Default number of firms of the national register.
NATIONAL_FIRMS = 30_000_000
#: The register columns the national chain (:func:`survey.pipeline.national.run_national`)
#: reads, and their SQL types: ids and codes as text, last year's revenue (thousand yuan,
#: missing for new firms) and the above-designated-size flag.
NATIONAL_REGISTER_COLUMNS: dict[str, str] = {
    "firm_id": "VARCHAR", "province": "VARCHAR", "city": "VARCHAR", "industry": "VARCHAR",
    "revenue_prev_year": "DOUBLE", "above_size": "BOOLEAN",
}
#: Optional register columns of the chain, their SQL types and the SQL value a register
#: without them gets (the industry code as its name, no zone, every firm on the bureau's
#: register, no federation member, in a zone when it has one).
NATIONAL_REGISTER_DEFAULTS: dict[str, tuple[str, str]] = {
    "industry_name": ("VARCHAR", '"industry"'), "zone": ("VARCHAR", "NULL"),
    "in_bureau": ("BOOLEAN", "TRUE"), "in_federation": ("BOOLEAN", "FALSE"),
    "in_zone": ("BOOLEAN", '"zone" IS NOT NULL'),
}
_VERSION = 1
_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_W = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)
_SEASON = np.array([0.215, 0.245, 0.255, 0.285])
OWNERSHIPS = ("urban collective", "private", "limited liability", "other")

# province, GB/T 2260 code, relative number of legal units (about the 2018 census), prefectures
_PROVINCES: tuple[tuple[str, str, float, int], ...] = (
    ("Beijing", "11", 3.6, 1), ("Tianjin", "12", 1.2, 1), ("Hebei", "13", 4.6, 11),
    ("Shanxi", "14", 2.2, 11), ("Inner Mongolia", "15", 1.4, 12), ("Liaoning", "21", 2.4, 14),
    ("Jilin", "22", 1.0, 9), ("Heilongjiang", "23", 1.1, 13), ("Shanghai", "31", 2.6, 1),
    ("Jiangsu", "32", 9.5, 13), ("Zhejiang", "33", 7.7, 11), ("Anhui", "34", 4.0, 16),
    ("Fujian", "35", 3.6, 9), ("Jiangxi", "36", 2.0, 11), ("Shandong", "37", 8.2, 16),
    ("Henan", "41", 5.6, 17), ("Hubei", "42", 3.6, 13), ("Hunan", "43", 3.0, 14),
    ("Guangdong", "44", 12.3, 21), ("Guangxi", "45", 2.0, 14), ("Hainan", "46", 0.5, 4),
    ("Chongqing", "50", 2.6, 1), ("Sichuan", "51", 4.2, 21), ("Guizhou", "52", 1.5, 9),
    ("Yunnan", "53", 1.8, 16), ("Tibet", "54", 0.2, 7), ("Shaanxi", "61", 2.3, 10),
    ("Gansu", "62", 0.9, 14), ("Qinghai", "63", 0.2, 8), ("Ningxia", "64", 0.3, 5),
    ("Xinjiang", "65", 1.2, 14),
)

# GB/T 4754-2017 manufacturing divisions: code, name, log size effect, relative number of firms
_INDUSTRIES: tuple[tuple[str, str, float, float], ...] = (
    ("13", "agricultural food processing", 0.1, 5.0), ("14", "food manufacturing", 0.0, 3.0),
    ("15", "beverages", 0.1, 1.5), ("16", "tobacco", 1.5, 0.05), ("17", "textiles", 0.0, 4.5),
    ("18", "apparel", -0.1, 4.0), ("19", "leather and footwear", -0.1, 2.0),
    ("20", "wood products", -0.2, 2.5), ("21", "furniture", -0.1, 2.5), ("22", "paper", 0.2, 1.5),
    ("23", "printing", -0.2, 2.0), ("24", "stationery and sporting goods", -0.2, 2.0),
    ("25", "petroleum and coal products", 1.0, 0.4), ("26", "chemicals", 0.4, 4.0),
    ("27", "pharmaceuticals", 0.5, 1.2), ("28", "chemical fibres", 0.6, 0.3),
    ("29", "rubber and plastics", 0.0, 5.0), ("30", "non-metallic minerals", 0.1, 7.0),
    ("31", "ferrous metals", 0.9, 0.8), ("32", "non-ferrous metals", 0.7, 1.0),
    ("33", "metal products", -0.1, 7.5), ("34", "general machinery", 0.1, 7.0),
    ("35", "special machinery", 0.1, 5.0), ("36", "motor vehicles", 0.6, 2.5),
    ("37", "other transport equipment", 0.3, 1.0), ("38", "electrical machinery", 0.2, 5.0),
    ("39", "computers and electronics", 0.5, 3.0), ("40", "instruments", 0.1, 1.2),
    ("41", "other manufacturing", -0.3, 1.0), ("42", "recycling", -0.1, 0.5),
    ("43", "repair of machinery", -0.3, 0.6),
)

_STREAM = {name: k for k, name in enumerate((
    "province", "prefecture", "county", "industry", "zone", "ownership", "status", "size1", "size2",
    "large", "tail", "productivity1", "productivity2", "org", "exporter", "name",
))}


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser (vectorised, uint64 wraparound)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    return x


def _key(seed: int, stream: int) -> np.uint64:
    with np.errstate(over="ignore"):
        return _mix(np.array([np.uint64(seed & 0xFFFFFFFFFFFFFFFF) * np.uint64(0x9E3779B97F4A7C15)
                              + np.uint64(stream + 1)], dtype=np.uint64))[0]


def _uniform(seed: int, stream: int, counter: np.ndarray) -> np.ndarray:
    """Uniform numbers on [0, 1) from (seed, stream, counter): 53 bits of a splitmix64 hash."""
    with np.errstate(over="ignore"):
        x = _mix(counter.astype(np.uint64) * np.uint64(0xD1B54A32D192ED03) ^ _key(seed, stream))
    return (x >> np.uint64(11)).astype(np.float64) * 2.0**-53


def _normal(seed: int, stream: int, counter: np.ndarray) -> np.ndarray:
    """Standard normal numbers (Box-Muller on two hashed uniforms)."""
    u1 = _uniform(seed, 2 * stream + 101, counter)
    u2 = _uniform(seed, 2 * stream + 102, counter)
    return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)


def _choose(u: np.ndarray, weights: np.ndarray) -> np.ndarray:
    cum = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(cum, u, side="right"), len(weights) - 1)


@dataclass(frozen=True)
class _Geography:
    """Provinces, prefectures and counties as code tables (fixed, not random)."""

    prov_name: np.ndarray
    prov_code: np.ndarray
    prov_weight: np.ndarray
    pref_code: np.ndarray  # 4-digit codes
    pref_province: np.ndarray
    pref_weight: np.ndarray
    pref_first: np.ndarray  # offset of each province's prefectures
    pref_count: np.ndarray
    county_first: np.ndarray  # per prefecture
    county_count: np.ndarray
    county_code: np.ndarray  # 6-digit codes
    county_digits: np.ndarray  # (counties, 6) digits of the codes


def _geography() -> _Geography:
    names, codes, weights, counts = zip(*_PROVINCES)
    pref_code, pref_prov, pref_w = [], [], []
    for p, (code, n) in enumerate(zip(codes, counts)):
        for j in range(n):
            pref_code.append(f"{code}{j + 1:02d}")
            pref_prov.append(p)
            pref_w.append(1.0 / (j + 1) ** 0.7)  # the capital first and largest
    pref_count = np.array(counts)
    pref_first = np.concatenate([[0], np.cumsum(pref_count)[:-1]])
    # counties: 3 to 12 per prefecture (a fixed rule on the code), code = prefecture + 01..
    county_count = np.array([3 + (int(c) * 7) % 10 for c in pref_code])
    county_first = np.concatenate([[0], np.cumsum(county_count)[:-1]])
    county_code = np.array([f"{c}{k + 1:02d}" for c, n in zip(pref_code, county_count) for k in range(n)])
    return _Geography(
        prov_name=np.array(names), prov_code=np.array(codes), prov_weight=np.array(weights),
        pref_code=np.array(pref_code), pref_province=np.array(pref_prov), pref_weight=np.array(pref_w),
        pref_first=pref_first, pref_count=pref_count, county_first=county_first,
        county_count=county_count, county_code=county_code,
        county_digits=(np.frombuffer(county_code.astype("S6").tobytes(), dtype=np.uint8).reshape(-1, 6)
                       - ord("0")).astype(np.uint8),
    )


def _zones(geo: _Geography) -> pd.DataFrame:
    """Specialised industrial zones: one (prefecture, industry) cluster per ~8 prefectures (fixed)."""
    rows = []
    n_ind = len(_INDUSTRIES)
    for k, code in enumerate(geo.pref_code):
        if k % 8 == 3:
            ind = (k * 11) % n_ind
            rows.append((f"{code} {_INDUSTRIES[ind][1]} zone", k, ind, 0.35 + 0.3 * ((k * 13) % 7) / 7))
    return pd.DataFrame(rows, columns=["zone", "prefecture", "industry", "share"])


def _uscc(head2: np.ndarray, division: np.ndarray, serial: np.ndarray, seed: int) -> np.ndarray:
    """USCC ids as an (n, 18) uint8 array: unique serial -> organisation code (a bijection).

    ``division`` holds the 6 digits of the county code of every firm (n, 6).
    """
    n = serial.size
    alphabet = np.frombuffer(_USCC_ALPHABET.encode(), dtype=np.uint8)
    M = 31**8
    a = int(_key(seed, 999) % np.uint64(M - 1)) + 1
    if a % 31 == 0:
        a += 1
    b = int(_key(seed, 998) % np.uint64(M))
    # (a * serial + b) mod 31^8 in exact integer arithmetic (split a to stay inside 64 bits)
    s = serial.astype(np.int64) % M
    a_hi, a_lo = divmod(a, 31**4)
    org_num = ((((s * a_hi) % M) * (31**4)) % M + s * a_lo + b) % M
    out = np.empty((n, 18), dtype=np.uint8)
    total = 9 * int(_USCC_W[0]) + head2.astype(np.int64) * int(_USCC_W[1])
    out[:, 0] = ord("9")
    out[:, 1] = ord("0") + head2
    for k in range(6):
        out[:, 2 + k] = ord("0") + division[:, k]
        total = total + division[:, k].astype(np.int64) * int(_USCC_W[2 + k])
    org_sum = np.zeros(n, dtype=np.int64)
    for k in range(7, -1, -1):
        digit = org_num % 31
        org_num //= 31
        ch = alphabet[digit]
        out[:, 8 + k] = ch
        total = total + digit * int(_USCC_W[8 + k])
        base36 = np.where(ch <= ord("9"), ch.astype(np.int64) - ord("0"), ch.astype(np.int64) - ord("A") + 10)
        org_sum += base36 * int(_ORG_W[k])
    c = (11 - org_sum % 11) % 11
    org_check = np.where(c == 10, 29, c)  # 'X' is code 29 in the USCC alphabet
    out[:, 16] = alphabet[org_check]
    total = total + org_check * int(_USCC_W[16])
    out[:, 17] = alphabet[(31 - total % 31) % 31]
    return out


def _string_array(codes: np.ndarray, labels: Sequence[str]) -> Any:
    """An Arrow string column from integer codes and labels (decoded from a dictionary in C++)."""
    import pyarrow as pa

    return pa.DictionaryArray.from_arrays(pa.array(codes.astype(np.int32)), pa.array(list(labels))).dictionary_decode()


def _fixed_strings(chars: np.ndarray) -> Any:
    """An Arrow string column from an (n, w) uint8 array of ASCII characters."""
    import pyarrow as pa

    n, w = chars.shape
    offsets = np.arange(0, (n + 1) * w, w, dtype=np.int32)
    return pa.StringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(np.ascontiguousarray(chars).tobytes()))


@dataclass(frozen=True, kw_only=True)
class NationalRegister:
    """A generated national register on disk.

    Attributes
    ----------
    path : pathlib.Path
        The Parquet file.
    n_firms, seed, year : int
        As given to :func:`generate_national_register`.
    seconds : float
        Time it took to write.
    """

    path: Path
    n_firms: int
    seed: int
    year: int
    seconds: float


def _register_chunk(start: int, stop: int, seed: int, year: int, geo: _Geography, zones: pd.DataFrame,
                    names: bool) -> Any:
    import pyarrow as pa

    i = np.arange(start, stop, dtype=np.int64)
    n = i.size
    prov = _choose(_uniform(seed, _STREAM["province"], i), geo.prov_weight)
    # prefecture within province: inverse cdf on the province's weights
    u = _uniform(seed, _STREAM["prefecture"], i)
    pref = np.empty(n, dtype=np.int64)
    for p in range(geo.prov_code.size):  # loop over 31 provinces, vectorised over firms
        sel = prov == p
        if sel.any():
            first, count = geo.pref_first[p], geo.pref_count[p]
            pref[sel] = first + _choose(u[sel], geo.pref_weight[first:first + count])
    county = geo.county_first[pref] + np.minimum(
        (_uniform(seed, _STREAM["county"], i) * geo.county_count[pref]).astype(np.int64), geo.county_count[pref] - 1
    )
    ind_w = np.array([w for *_, w in _INDUSTRIES])
    industry = _choose(_uniform(seed, _STREAM["industry"], i), ind_w)
    zone = np.full(n, -1, dtype=np.int64)
    uz = _uniform(seed, _STREAM["zone"], i)
    for k, row in enumerate(zones.itertuples(index=False)):  # a few dozen zones
        here = (pref == row.prefecture) & (uz < row.share)
        industry = np.where(here, row.industry, industry)
        zone = np.where(here, k, zone)
    in_zone = zone >= 0
    ownership = _choose(_uniform(seed, _STREAM["ownership"], i), np.array([0.04, 0.55, 0.34, 0.07]))
    us = _uniform(seed, _STREAM["status"], i)
    status = np.where(us < 0.075, 1, np.where(us < 0.115, 2, 0))  # active, new, dead
    effect = np.array([e for _, _, e, _ in _INDUSTRIES])[industry]
    capital = geo.pref_first[geo.pref_province[pref]] == pref
    mu = np.log(800.0) + effect + 0.2 * capital + 0.2 * (ownership == 0) - 0.25 * in_zone
    body = np.exp(mu + 0.62 * _normal(seed, _STREAM["size1"], i))
    # a Pareto tail of large firms: about 1.5% of the firms are above the designated size
    large = _uniform(seed, _STREAM["large"], i) < np.where(in_zone, 0.03, 0.06)
    tail = 6000.0 * (1.0 - _uniform(seed, _STREAM["tail"], i)) ** (-1.0 / 1.2)
    size = np.where(large, np.minimum(tail, 4.0e6), body)
    new = status == 1
    revenue = np.where(new, np.nan, np.round(size, 1))
    productivity = np.exp(np.log(160.0) + 0.35 * _normal(seed, _STREAM["productivity1"], i))
    employees = np.maximum(1.0, np.round(size * 0.965 / productivity)).astype(np.int64)
    small_private = (ownership == 1) & (size < 300)
    ids = _uscc(np.where(small_private, 2, 1).astype(np.uint8), geo.county_digits[county], i, seed)
    columns = {
        "firm_id": _fixed_strings(ids),
        "year": pa.array(np.full(n, year, dtype=np.int64)),
        "province": _string_array(prov, geo.prov_name),
        "province_code": _string_array(prov, geo.prov_code),
        "city": _string_array(pref, geo.pref_code),
        "county_code": _string_array(county, geo.county_code),
        "industry": _string_array(industry, [c for c, *_ in _INDUSTRIES]),
        "industry_name": _string_array(industry, [nm for _, nm, *_ in _INDUSTRIES]),
        "ownership": _string_array(ownership, OWNERSHIPS),
        "zone": pa.array(np.where(in_zone, zones["zone"].to_numpy(dtype=object)[np.maximum(zone, 0)], None),
                         type=pa.string()),
        "revenue_prev_year": pa.array(revenue),
        "employees": pa.array(employees),
        "status": _string_array(status, ["active", "new", "dead"]),
        "above_size": pa.array(above_size(revenue, year)),
        "in_bureau": pa.array(np.ones(n, dtype=bool)),
        "in_federation": pa.array(ownership == 0),
        "in_zone": pa.array(in_zone),
    }
    if names:
        chars = np.frombuffer("华兴利达丰泰源盛鑫隆恒福顺昌宏金新永和安嘉旺发聚富益通宝荣美信诚佳德鸿广海龙强康".encode("utf-8"),
                              dtype=np.uint8).reshape(-1, 3)
        k = (_uniform(seed, _STREAM["name"], i) * chars.shape[0] ** 2).astype(np.int64)
        pair = np.concatenate([chars[k // chars.shape[0]], chars[k % chars.shape[0]]], axis=1)
        names_arr = _fixed_strings(pair)
        import pyarrow.compute as pc

        columns["name"] = pc.binary_join_element_wise(columns["county_code"], names_arr,
                                                      columns["industry_name"], " ")
    return pa.table(columns)


def generate_national_register(
    path: str | Path,
    n_firms: int = NATIONAL_FIRMS,
    *,
    seed: int = 2018,
    year: int = 2018,
    chunk_size: int = 500_000,
    names: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> NationalRegister:
    """Write a synthetic national register of ``n_firms`` firms to Parquet, chunk by chunk.

    Parameters
    ----------
    path : str or path
        Output Parquet file (one row group per chunk).
    n_firms : int, default=30_000_000
    seed : int, default=2018
        Recorded in the Parquet metadata; the same seed gives the same file
        whatever ``chunk_size``.
    year : int, default=2018
        Register year (sets the designated-size threshold: 20 million yuan
        of revenue from 2011).
    chunk_size : int, default=500_000
        Firms per chunk (peak memory is about 1 kB per firm of a chunk).
    names : bool, default=False
        Add a ``name`` column (more disk and time).
    progress : callable, optional
        Called with ``(firms written, n_firms)`` after each chunk.

    Returns
    -------
    NationalRegister

    Examples
    --------
    >>> import tempfile, os, pandas as pd
    >>> reg = generate_national_register(os.path.join(tempfile.mkdtemp(), "reg.parquet"), 2000, seed=1)
    >>> df = pd.read_parquet(reg.path)
    >>> len(df), bool(df["firm_id"].is_unique), df["province"].nunique()
    (2000, True, 31)
    """
    import pyarrow.parquet as pq

    n_firms = int(n_firms)
    if n_firms < 1:
        raise FrameError(f"n_firms must be positive, got {n_firms}")
    if n_firms > 31**8:
        raise FrameError(f"n_firms={n_firms} exceeds the organisation codes available (31**8)")
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise FrameError(f"seed must be a non-negative int, got {seed!r}")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    geo = _geography()
    zones = _zones(geo)
    meta = {"survey.dataset": json.dumps({
        "generator": "survey.datasets.national.generate_national_register", "version": _VERSION,
        "seed": int(seed), "n_firms": n_firms, "year": int(year), "money_unit": "thousand yuan",
    })}
    t0 = time.perf_counter()
    writer = None
    try:
        for start in range(0, n_firms, int(chunk_size)):
            stop = min(n_firms, start + int(chunk_size))
            table = _register_chunk(start, stop, int(seed), int(year), geo, zones, names)
            if writer is None:
                writer = pq.ParquetWriter(str(path), table.schema.with_metadata(meta), compression="zstd")
            writer.write_table(table)
            if progress is not None:
                progress(stop, n_firms)
    finally:
        if writer is not None:
            writer.close()
    return NationalRegister(path=path, n_firms=n_firms, seed=int(seed), year=int(year),
                            seconds=time.perf_counter() - t0)


def read_dataset_metadata(path: str | Path) -> dict:
    """The generator settings recorded in a generated Parquet file (``survey.dataset``).

    Examples
    --------
    >>> import tempfile, os
    >>> reg = generate_national_register(os.path.join(tempfile.mkdtemp(), "r.parquet"), 100, seed=4)
    >>> read_dataset_metadata(reg.path)["seed"]
    4
    """
    import pyarrow.parquet as pq

    meta = pq.read_schema(str(path)).metadata or {}
    raw = meta.get(b"survey.dataset")
    if raw is None:
        raise FrameError(f"{path} has no survey.dataset metadata (not written by survey.datasets.national)")
    return json.loads(raw)


def _parse_period(period: str) -> tuple[int, int]:
    if not (isinstance(period, str) and len(period) == 6 and period[4] == "Q" and period[:4].isdigit()
            and period[5] in "1234"):
        raise PeriodError(f"period {period!r} is not a quarter label like '2018Q1'")
    return int(period[:4]), int(period[5])


def _firm_counters(ids: np.ndarray, seed: int) -> np.ndarray:
    """A 64-bit counter per firm id (SipHash of the id, keyed by the seed)."""
    return pd.util.hash_array(ids.astype(object), hash_key=f"{seed % 10**16:016d}", categorize=False)


def _returns_chunk(frame: pd.DataFrame, period: str, seed: int, unit_nonresponse: float,
                   item_nonresponse: float) -> pd.DataFrame:
    year, quarter = _parse_period(period)
    ids = frame["firm_id"].to_numpy(dtype=object)
    c = _firm_counters(ids, seed)
    n = len(frame)

    def U(stream: int, q: int = 0, y: int | None = None) -> np.ndarray:
        return _uniform(seed, stream + 100 * q + 1000 * ((year if y is None else y) - 1900), c)

    def N(stream: int, q: int = 0, y: int | None = None) -> np.ndarray:
        return _normal(seed, stream + 100 * q + 1000 * ((year if y is None else y) - 1900), c)

    employees = frame["employees"].to_numpy(dtype=float)
    prev = frame["revenue_prev_year"].to_numpy(dtype=float)
    new = np.isnan(prev)
    base = np.where(new, employees * 160.0 / 0.965, prev)
    status = frame["status"].to_numpy(dtype=object)
    dead = status == "dead"
    death_q = 1 + (U(1) * 4).astype(np.int64)  # dead firms stop in a quarter of this year
    birth_q = 1 + (U(2) * 4).astype(np.int64)  # new firms start in a quarter of this year
    level = base * np.exp(0.08 + 0.12 * N(3))
    exporter = U(4) < 0.3
    share = np.where(exporter, 1.0 / (1.0 + np.exp(-(np.log(0.3 / 0.7) + 0.9 * N(5)))), 0.0)
    margin = np.clip(0.075 + 0.035 * N(6), -0.12, 0.30)
    sales_ratio = np.clip(0.965 + 0.02 * N(7), 0.80, 1.06)
    cur = {v: np.zeros(n) for v in INDICATORS}
    last = {v: np.zeros(n) for v in INDICATORS}
    for q in range(1, quarter + 1):
        operating = ~((dead & (q > death_q)) | (new & (q < birth_q)))
        for which, annual, y in ((cur, level, year), (last, base, year - 1)):
            op = operating if which is cur else ~new
            out = annual * _SEASON[q - 1] * np.exp(0.08 * N(10, q, y) - 0.0032) * op
            sales = out * np.clip(sales_ratio + 0.015 * N(11, q, y), 0.80, 1.06)
            revenue = sales * np.exp(0.03 * N(12, q, y))
            which["gross_output"] += np.round(out, 1)
            which["sales_output"] += np.round(sales, 1)
            which["revenue"] += np.round(revenue, 1)
            which["profit_tax"] += np.round(revenue * margin, 1)
            which["export_delivery"] += np.round(np.minimum(out * share, sales), 1)
            which["employees"] += np.maximum(1.0, np.round(employees * np.exp(0.05 * N(13, q, y)))) * op
    for which in (cur, last):
        which["employees"] = which["employees"] / quarter
    operating_now = ~((dead & (quarter > death_q)) | (new & (quarter < birth_q)))
    size = np.maximum(cur["gross_output"], last["gross_output"]) * 4.0 / quarter
    propensity = 1.0 / (1.0 + np.log1p(np.maximum(size, 0.0) / 1000.0))
    responded = U(20, quarter, year) >= np.clip(unit_nonresponse * propensity / 0.45, 0.0, 1.0)
    out = {"firm_id": ids, "period": np.full(n, period, dtype=object), "responded": responded,
           "operating": operating_now}
    for k, v in enumerate(INDICATORS):
        miss_cur = U(30 + k, quarter, year) < item_nonresponse
        miss_last = U(40 + k, quarter, year) < item_nonresponse
        out[f"{v}_ytd"] = np.where(responded & ~miss_cur, cur[v], np.nan)
        out[f"{v}_ytd_last_year"] = np.where(responded & ~miss_last, last[v], np.nan)
    return pd.DataFrame(out)


def generate_national_returns(
    register: str | Path | NationalRegister,
    folder: str | Path,
    periods: Iterable[str],
    *,
    sample: Any = None,
    seed: int = 2019,
    chunk_size: int = 1_000_000,
    unit_nonresponse: float = 0.10,
    item_nonresponse: float = 0.02,
    progress: Callable[[int, int], None] | None = None,
) -> list[Path]:
    """Quarterly returns (year to date) of the take-all and sampled units of a national register.

    The firms asked are those ``above_size`` on the register (a census of the
    designated-size firms) and those of ``sample``. Values follow last year's
    revenue with firm growth, a seasonal pattern, exporters, margins and
    headcounts; dead firms stop and new firms start in a quarter of the year;
    small firms answer less often (unit nonresponse), items are missing at
    random. One file per period: ``returns_<period>.parquet`` in ``folder``.

    Parameters
    ----------
    register : path or NationalRegister
        A register written by :func:`generate_national_register`.
    folder : str or path
    periods : iterable of str
        Quarter labels of one year, e.g. ``["2018Q1", "2018Q2"]``.
    sample : Parquet path, pandas.DataFrame (with ``firm_id``) or sequence of ids, optional
        The sampled units besides the take-all ones.
    seed : int, default=2019
    chunk_size : int, default=1_000_000
        Register rows read at a time (memory: one chunk).
    unit_nonresponse, item_nonresponse : float
        Average unit and item nonresponse rates.
    progress : callable, optional
        Called with ``(register rows read, register rows)``.

    Returns
    -------
    list of pathlib.Path

    Examples
    --------
    >>> import tempfile, os, pandas as pd
    >>> folder = tempfile.mkdtemp()
    >>> reg = generate_national_register(os.path.join(folder, "reg.parquet"), 5000, seed=1)
    >>> paths = generate_national_returns(reg, folder, ["2018Q1", "2018Q2"], seed=2)
    >>> ret = pd.read_parquet(paths[1])
    >>> bool((ret["gross_output_ytd"] >= 0).all() or ret["gross_output_ytd"].isna().any())
    True
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    path = Path(register.path if isinstance(register, NationalRegister) else register)
    periods = list(periods)
    if not periods:
        raise PeriodError("give at least one period")
    for name, value in (("unit_nonresponse", unit_nonresponse), ("item_nonresponse", item_nonresponse)):
        if not 0.0 <= float(value) <= 1.0:
            raise FrameError(f"{name}={value} must be a probability in [0, 1]")
    years = {_parse_period(p)[0] for p in periods}
    if len(years) != 1:
        raise PeriodError(f"periods {periods} span several years; generate one year at a time")
    if sample is None:
        sample_ids = np.array([], dtype=object)
    elif isinstance(sample, (str, Path)):
        sample_ids = pd.read_parquet(sample, columns=["firm_id"])["firm_id"].to_numpy(dtype=object)
    elif isinstance(sample, pd.DataFrame):
        sample_ids = sample["firm_id"].to_numpy(dtype=object)
    else:
        sample_ids = np.asarray(list(sample), dtype=object)
    sample_ids = np.sort(sample_ids.astype(str))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    meta = {"survey.dataset": json.dumps({
        "generator": "survey.datasets.national.generate_national_returns", "version": _VERSION,
        "seed": int(seed), "register": str(path), "n_sample": int(sample_ids.size),
        "unit_nonresponse": float(unit_nonresponse), "item_nonresponse": float(item_nonresponse),
    })}
    source = pq.ParquetFile(str(path))
    total = source.metadata.num_rows
    writers: dict[str, Any] = {}
    paths = [folder / f"returns_{p}.parquet" for p in periods]
    done = 0
    try:
        cols = ["firm_id", "revenue_prev_year", "employees", "status", "above_size"]
        for batch in source.iter_batches(batch_size=int(chunk_size), columns=cols):
            frame = batch.to_pandas()
            done += len(frame)
            ids = frame["firm_id"].to_numpy(dtype=str)
            pos = np.searchsorted(sample_ids, ids)
            in_sample = (pos < sample_ids.size) & (sample_ids[np.minimum(pos, max(sample_ids.size - 1, 0))] == ids) \
                if sample_ids.size else np.zeros(len(ids), dtype=bool)
            asked = frame[frame["above_size"].to_numpy(dtype=bool) | in_sample]
            if len(asked):
                for p, out_path in zip(periods, paths):
                    table = pa.Table.from_pandas(_returns_chunk(asked, p, int(seed), unit_nonresponse,
                                                                item_nonresponse), preserve_index=False)
                    if p not in writers:
                        writers[p] = pq.ParquetWriter(str(out_path), table.schema.with_metadata(meta),
                                                      compression="zstd")
                    writers[p].write_table(table.cast(writers[p].schema))
            if progress is not None:
                progress(done, total)
    finally:
        for w in writers.values():
            w.close()
    for p in periods:
        if p not in writers:
            raise FrameError("no firm of the register is above size or in the sample; nothing to write")
    return paths


del MONEY_INDICATORS
