"""The generator of the synthetic light-industry population of Guangxi, 2004-2007.

:func:`generate_population` makes the register and the quarterly truth that
``data/make_data.py`` writes into the bundled files (see
:mod:`survey.datasets`); a smaller population is a miniature for tests.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy.optimize import brentq
from scipy.special import expit, logit

from survey.datasets import (
    COUNTIES,
    DEFAULT_SEED,
    FULL_SIZE,
    INDUSTRIES,
    MONEY_INDICATORS,
    OWNERSHIPS,
    PUBLISHED,
    YEARS,
    ZONES,
    above_size,
    load_size_thresholds,
    sector_figures,
)
from survey.errors import FrameError

__all__ = ["SyntheticPopulation", "generate_population"]

_OWNERSHIP_SUFFIX = ("厂", "加工厂", "有限公司", "实业公司")
_TRADE_CHARS = "华兴利达丰泰源盛鑫隆恒福顺昌宏金新永和安嘉旺发聚富益通宝荣美信诚佳德鸿广海龙强康"

_SEASON = np.array([0.215, 0.245, 0.255, 0.285])  # Spring Festival dip in Q1

_USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_W = np.array([pow(3, i, 31) for i in range(17)], dtype=np.int64)
_ORG_W = np.array([3, 7, 9, 10, 5, 8, 4, 2], dtype=np.int64)


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
        counties = pd.DataFrame(COUNTIES, columns=["city", "county", "county_zh", "county_code", "weight"])
        industries = pd.DataFrame(
            INDUSTRIES,
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
        for k, (_, zone_county, zone_industry, share) in enumerate(ZONES):
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
        published = {name: (value * scale, growth) for name, _, value, growth in PUBLISHED}

        # 2005 output: maps that keep each firm on its side of the threshold
        y05 = values["gross_output"].sum(axis=2)[:, t05]
        r05 = np.where(rev05 > 0, rev05, 1.0)

        def factor05(theta_firm: np.ndarray, rows=slice(None)) -> np.ndarray:
            k = np.exp(theta_firm)
            r = r05[rows]
            up = (threshold + (r - threshold) * k) / r
            down = k / (1.0 + (k - 1.0) * r / threshold)
            return np.where(above[rows], up, down)

        def output05(rows: np.ndarray):
            y = y05[rows]
            return lambda th: y * factor05(th, rows)

        margins05 = [
            (in_a, published["above_size_gross_output"][0] / (1 + published["above_size_gross_output"][1])),
            (in_c, published["collective_gross_output"][0] / (1 + published["collective_gross_output"][1])),
            (in_z, published["zone_gross_output"][0] / (1 + published["zone_gross_output"][1])),
        ]
        theta05 = _rake_cells(cell, on06, output05, margins05, 8)
        phi05 = factor05(theta05[cell])

        y06 = values["gross_output"].sum(axis=2)[:, t06]
        margins06 = [
            (in_a, published["above_size_gross_output"][0]),
            (in_c, published["collective_gross_output"][0]),
            (in_z, published["zone_gross_output"][0]),
            (np.ones(8, dtype=bool), published["sector_gross_output"][0]),
        ]

        def output06(rows: np.ndarray):
            y = y06[rows]
            return lambda th: y * np.exp(th)

        theta06 = _rake_cells(cell, on06, output06, margins06, 8)
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

            def exports(rows: np.ndarray, b=b, lg=lg):
                b_rows, lg_rows = b[rows], lg[rows]
                return lambda th: b_rows * expit(lg_rows + th)

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
        zone_names = np.array([z[0] for z in ZONES], dtype=object)
        zone = np.where(self.zone[firm_idx] >= 0, zone_names[np.maximum(self.zone[firm_idx], 0)], None)
        c = self.counties
        ind = self.industries
        # text columns: each distinct text converted to a string column once, then taken
        firm_ids = pd.Series(ids)
        register = pd.DataFrame(
            {
                "firm_id": _take(firm_ids, firm_idx),
                "year": year.astype(np.int64),
                "name": _take(pd.Series(names), firm_idx),
                "city": _take(c["city"], self.county[firm_idx]),
                "county": _take(c["county"], self.county[firm_idx]),
                "county_code": _take(c["county_code"], self.county[firm_idx]),
                "industry": _take(ind["industry"], self.industry[firm_idx]),
                "industry_name": _take(ind["industry_name"], self.industry[firm_idx]),
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
        order = register.sort_values(["year", "firm_id"], kind="stable").index.to_numpy()
        register = register.take(order).reset_index(drop=True)

        # quarterly truth: the register firm-years x 4 quarters, in the register's order
        # (year, firm_id; the ids are unique), so sorted by year, firm_id and quarter
        fi = np.repeat(firm_idx[order], 4)
        yi = np.repeat(year_idx[order], 4)
        qi = np.tile(np.arange(4), len(firm_idx))
        yr = years_all[yi]
        periods = pd.Series([f"{y}Q{q}" for y in years_all for q in range(1, 5)])
        quarterly = {
            "firm_id": _take(firm_ids, fi),
            "period": _take(periods, yi * 4 + qi),
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
        return register, pd.DataFrame(quarterly)


def _take(values: pd.Series, rows: np.ndarray):
    """``values`` at the positions ``rows``, as a column (its dtype: the default for text)."""
    return values.take(rows).array


def _threshold_for_year(year: int) -> float:
    """Threshold for ``year`` (thousand yuan) from the bundled table, or the rule if absent."""
    try:
        table = load_size_thresholds()
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

    ``contribution(rows)`` gives a function of the parameters of the firms at
    the positions ``rows`` (of their cells) whose value is each of these firms'
    value (increasing in its parameter); margins are boolean masks over cells.
    """
    theta = np.zeros(n_cells)
    # each margin's member firms, their cells and their contribution, found once
    parts = []
    for cells_in, target in margins:
        rows = np.flatnonzero(member & cells_in[cell])
        parts.append((cells_in, target, cell[rows], contribution(rows)))
    for _ in range(max_iter):
        worst = 0.0
        for cells_in, target, cell_in, value in parts:

            def gap(delta: float, theta=theta, cells_in=cells_in, cell_in=cell_in, value=value,
                    target=target) -> float:
                th = theta + delta * cells_in
                return float(value(th[cell_in]).sum()) - target

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
