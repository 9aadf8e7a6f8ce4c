"""The linear programmes of secondary suppression and of the audit (HiGHS, hot-started between solves).

Part of :mod:`survey.publish.disclosure` (see its docstring and ``docs/disclosure.md``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp
from scipy.optimize import linprog
from scipy.sparse.csgraph import connected_components

from survey.errors import DisclosureError

__all__: list[str] = []  # helpers of protect.py (no user API)

# ---------------------------------------------------------------------------
# Linear programmes
# ---------------------------------------------------------------------------


def _highs_module() -> Any:
    """HiGHS bindings: ``highspy`` if installed, else the copy inside SciPy, else None."""
    try:  # pragma: no cover - depends on the environment
        import highspy

        return highspy, highspy.Highs
    except ImportError:
        pass
    try:
        import scipy.optimize._highspy._core as core

        return core, core._Highs
    except (ImportError, AttributeError):  # pragma: no cover - old SciPy
        return None, None


class _LinearProgram:
    """min c'x s.t. A x = b, lower <= x <= upper, solved repeatedly with HiGHS.

    The model is passed once; costs and column bounds change between solves
    and HiGHS restarts the simplex from the previous basis (hot start), which
    makes the hundreds of small solves of a suppression run cheap. Without the
    HiGHS bindings it falls back to :func:`scipy.optimize.linprog` (same
    solver, one model per solve).
    """

    def __init__(self, A: sp.spmatrix, b: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 *, use_bindings: bool = True, primal: bool = True) -> None:
        self.A = sp.csc_matrix(A)
        self.b = np.asarray(b, dtype=float)
        self.lower = np.asarray(lower, dtype=float).copy()
        self.upper = np.asarray(upper, dtype=float).copy()
        self.cost = np.zeros(self.A.shape[1])
        self.solves = 0
        self._one_index = np.zeros(1, dtype=np.int32)
        self._one_value = np.zeros(1)
        module, highs_class = _highs_module() if use_bindings else (None, None)
        self._h = None
        if highs_class is not None:
            h = highs_class()
            h.setOptionValue("output_flag", False)
            h.setOptionValue("presolve", "off")
            h.setOptionValue("primal_feasibility_tolerance", 1e-9)
            h.setOptionValue("dual_feasibility_tolerance", 1e-9)
            # costs change between audit solves (primal simplex keeps feasibility);
            # bounds change between secondary solves (dual simplex keeps optimality)
            h.setOptionValue("simplex_strategy", 4 if primal else 1)
            lp = module.HighsLp()
            n_row, n_col = self.A.shape
            lp.num_col_ = n_col
            lp.num_row_ = n_row
            lp.col_cost_ = self.cost
            lp.col_lower_ = self.lower
            lp.col_upper_ = np.where(np.isinf(self.upper), module.kHighsInf, self.upper)
            lp.row_lower_ = self.b
            lp.row_upper_ = self.b
            lp.a_matrix_.format_ = module.MatrixFormat.kColwise
            lp.a_matrix_.num_col_ = n_col
            lp.a_matrix_.num_row_ = n_row
            lp.a_matrix_.start_ = self.A.indptr.astype(np.int32)
            lp.a_matrix_.index_ = self.A.indices.astype(np.int32)
            lp.a_matrix_.value_ = self.A.data.astype(float)
            h.passModel(lp)
            self._h = h
            self._status = module.HighsModelStatus
            self._inf = module.kHighsInf

    def set_cost(self, index: np.ndarray, values: np.ndarray) -> None:
        index = np.asarray(index, dtype=np.int32)
        values = np.asarray(values, dtype=float)
        if index.size == 0:
            return
        self.cost[index] = values
        if self._h is not None:
            self._h.changeColsCost(index.size, index, values)

    def set_cost_of(self, j: int, value: float) -> None:
        """``set_cost([j], [value])`` without building arrays (the audit's objectives)."""
        self.cost[j] = value
        if self._h is not None:
            self._one_index[0] = j
            self._one_value[0] = value
            self._h.changeColsCost(1, self._one_index, self._one_value)

    def set_bounds(self, index: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> None:
        index = np.asarray(index, dtype=np.int32)
        lower = np.asarray(lower, dtype=float)
        upper = np.asarray(upper, dtype=float)
        self.lower[index] = lower
        self.upper[index] = upper
        if self._h is not None:
            self._h.changeColsBounds(index.size, index, lower,
                                     np.where(np.isinf(upper), self._inf, upper))

    def solve(self) -> tuple[str, np.ndarray | None]:
        """Return ("optimal", x), ("unbounded", None) or ("failed: ...", None)."""
        self.solves += 1
        if self._h is not None:
            self._h.run()
            status = self._h.getModelStatus()
            if status == self._status.kOptimal:
                return "optimal", np.asarray(self._h.getSolution().col_value)
            if status in (self._status.kUnbounded, self._status.kUnboundedOrInfeasible):
                return "unbounded", None
            return f"failed: {self._h.modelStatusToString(status)}", None
        res = linprog(self.cost, A_eq=self.A if self.A.shape[0] else None,
                      b_eq=self.b if self.A.shape[0] else None,
                      bounds=np.column_stack([self.lower, self.upper]), method="highs")
        if res.status == 0:
            return "optimal", res.x
        if res.status == 3:
            return "unbounded", None
        return f"failed: {res.message}", None


@dataclass(frozen=True, kw_only=True, eq=False)
class Owners:
    """Who could attack a cell from inside: the sole contributors of other cells.

    ``owner[c]`` is the contributor of a single-contributor cell ``c`` (-1
    otherwise); ``pairs`` the sorted keys ``cell * n_contributors +
    contributor`` of every (cell, contributor) pair.
    """

    owner: np.ndarray
    pairs: np.ndarray
    n_contributors: int

    def known(self, cell: int) -> np.ndarray:
        """Single-contributor cells whose owner does not contribute to ``cell``.

        Each of those firms knows its own cell exactly; together they are the
        singleton attackers of ``cell`` (its own contributors know it anyway).
        """
        single = np.flatnonzero(self.owner >= 0)
        single = single[single != cell]
        keys = cell * self.n_contributors + self.owner[single]
        at = np.searchsorted(self.pairs, keys)
        inside = (at < self.pairs.size) & (self.pairs[np.minimum(at, self.pairs.size - 1)] == keys)
        return single[~inside]


class _Outsider:
    """The outsider's linear programme for one suppression pattern.

    Variables are the suppressed cells (non-negative), constraints the table
    equations with the published cells moved to the right-hand side. One
    HiGHS model, re-solved with new objectives and bounds.
    """

    def __init__(self, A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray) -> None:
        sup = np.flatnonzero(suppressed)
        self.x = x
        self.suppressed = suppressed
        self.pos = np.full(x.size, -1, dtype=np.int64)
        self.pos[sup] = np.arange(sup.size)
        self.cells = sup
        self.fixed = np.zeros(sup.size, dtype=bool)  # cells known (fixed) in the model now
        self.any_fixed = False
        A_s = A[:, sup].tocsr()
        keep = np.diff(A_s.indptr) > 0
        pub = ~suppressed
        b = -(A[:, pub] @ x[pub])[keep]
        self.model = _LinearProgram(A_s[keep], b, np.zeros(sup.size), np.full(sup.size, np.inf))

    def interval(self, cell: int, known: np.ndarray | None = None,
                 zero: np.ndarray | None = None) -> tuple[float, float]:
        """Min and max of ``cell``; the suppressed cells in ``known`` are known exactly.

        The known cells stay fixed in the model until a later call asks for
        another set: only the cells entering or leaving the set change their
        bounds (successive targets of a singleton check know nearly the same
        cells, so the hot-started simplex moves little; the optimum does not
        depend on the path to it). ``zero`` (boolean over all cells, updated
        in place, for one fixed set of known cells) marks the cells that some
        solution already put at 0: their minimum is 0 (cells are
        non-negative) without a linear programme.
        """
        model = self.model
        j = self.pos[cell]
        if known is not None and known.size:
            want = np.zeros(self.cells.size, dtype=bool)
            known = known[self.suppressed[known]]
            want[self.pos[known]] = True
            self._fix(want)
        elif self.any_fixed:  # (nothing to change when no cell is fixed)
            self._fix(np.zeros(self.cells.size, dtype=bool))
        out = []
        for sign in (1.0, -1.0):
            if sign > 0 and zero is not None and zero[cell]:
                out.append(0.0)
                continue
            model.set_cost_of(j, sign)
            status, sol = model.solve()
            if status == "optimal":
                out.append(sol[j])
                if zero is not None:
                    zero[self.cells[sol <= _ZERO]] = True
            elif status == "unbounded" and sign < 0:
                out.append(np.inf)
            else:
                raise DisclosureError(
                    f"audit linear programme failed for cell {cell} ({status}); "
                    "the published cells are inconsistent with the table structure"
                )
        model.set_cost_of(j, 0.0)
        return out[0], out[1]

    def _fix(self, want: np.ndarray) -> None:
        """Fix the cells of ``want`` at their values, free the others fixed before."""
        model = self.model
        free = np.flatnonzero(self.fixed & ~want)
        fix = np.flatnonzero(want & ~self.fixed)
        if free.size:
            model.set_bounds(free, np.zeros(free.size), np.full(free.size, np.inf))
        if fix.size:
            value = self.x[self.cells[fix]]
            model.set_bounds(fix, value, value)
        self.fixed = want
        self.any_fixed = bool(want.any())


#: a solution value at or below this (in units of the median cell) is a cell at 0
_ZERO = 1e-12


def outsider_interval(A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray,
              targets: np.ndarray, *, stop_below: tuple[np.ndarray, np.ndarray] | None = None,
              known: Any = None) -> tuple[np.ndarray, np.ndarray, int]:
    """Outsider's min and max of each target cell given the published cells.

    ``A @ x == 0`` is the table structure, published cells are known, suppressed
    cells are non-negative unknowns. Returns lower, upper (inf if unbounded)
    for the target cells (indices into x) and the number of LPs solved. With
    ``stop_below=(up, down)`` (required protections of the targets) it stops
    at the first target that is not protected (the rest are left NaN). With
    ``known`` (a function of the target cell), those cells are known too.
    """
    outsider = _Outsider(A, x, suppressed)
    lower = np.full(targets.size, np.nan)
    upper = np.full(targets.size, np.nan)
    zero = np.zeros(x.size, dtype=bool) if known is None else None
    for t, cell in enumerate(targets):
        lower[t], upper[t] = outsider.interval(cell, None if known is None else known(cell), zero)
        if stop_below is not None and not is_protected(
                x[cell], lower[t], upper[t], stop_below[0][t], stop_below[1][t]):
            break
    return lower, upper, outsider.model.solves


def _components(A: sp.csr_matrix, suppressed: np.ndarray) -> np.ndarray:
    """Connected component of each suppressed cell (linked through shared equations); -1 else."""
    sup = np.flatnonzero(suppressed)
    B = abs(A[:, sup]).tocsc()
    _, label = connected_components((B.T @ B).tocsr(), directed=False)
    out = np.full(suppressed.size, -1, dtype=np.int64)
    out[sup] = label
    return out


class _Deviation:
    """Sparse certificates on a suppression pattern.

    ``shift(cell, amount, fixed)`` looks for a table that agrees with every
    published cell and with the ``fixed`` suppressed cells, is non-negative,
    and has ``cell`` moved by ``amount`` (positive: up), with the least total
    change (so it moves few cells). Returns the mask of moved cells, or None
    when no such table exists (the cell cannot move that far).
    """

    def __init__(self, A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray) -> None:
        self.sup = np.flatnonzero(suppressed)
        self.x = x
        self.pos = np.full(x.size, -1, dtype=np.int64)
        self.pos[self.sup] = np.arange(self.sup.size)
        A_s = A[:, self.sup].tocsr()
        A_s = A_s[np.diff(A_s.indptr) > 0]
        k = self.sup.size
        self.k = k
        self.hi_minus = x[self.sup]
        self.model = _LinearProgram(sp.hstack([A_s, -A_s]), np.zeros(A_s.shape[0]),
                                    np.zeros(2 * k),
                                    np.concatenate([np.full(k, np.inf), self.hi_minus]),
                                    primal=False)
        self.model.set_cost(np.arange(2 * k), np.ones(2 * k))

    def shift(self, cell: int, amount: float, fixed: np.ndarray) -> np.ndarray | None:
        k, j = self.k, self.pos[cell]
        size = abs(amount)
        f = self.pos[fixed]
        plus_hi = np.full(k, np.inf)
        minus_hi = self.hi_minus / size
        plus_lo = np.zeros(k)
        minus_lo = np.zeros(k)
        plus_hi[f] = 0.0
        minus_hi[f] = 0.0
        if amount > 0:
            plus_lo[j] = plus_hi[j] = 1.0
            minus_hi[j] = 0.0
        else:
            minus_lo[j] = minus_hi[j] = 1.0
            plus_hi[j] = 0.0
        self.model.set_bounds(np.arange(2 * k), np.concatenate([plus_lo, minus_lo]),
                              np.concatenate([plus_hi, minus_hi]))
        status, sol = self.model.solve()
        if status != "optimal":
            return None
        moved = np.zeros(self.x.size, dtype=bool)
        moved[self.sup] = np.abs(sol[:k] - sol[k:]) > 1e-7
        return moved


def singleton_check(A: sp.csr_matrix, x: np.ndarray, suppressed: np.ndarray,
                     targets: np.ndarray, up: np.ndarray, down: np.ndarray, owners: Owners,
                     *, stop: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """Are the targets protected against every firm that alone makes up a suppressed cell?

    First the coalition of all those firms (every other single-contributor
    cell known at once). A target that fails it is checked against each such
    firm on its own (one firm knows one cell): in each direction a sparse
    table reaching the protection is sought; a firm whose cell it leaves
    unchanged cannot exclude it; for each firm whose cell it moves, one more
    table with that cell fixed is sought. No such table = not protected.
    Returns ok, the coalition's lower and upper bounds and the number of LPs.
    With ``stop`` it returns at the first failure.
    """
    outsider = _Outsider(A, x, suppressed)
    deviation = None
    ok = np.ones(targets.size, dtype=bool)
    lower = np.full(targets.size, np.nan)
    upper = np.full(targets.size, np.nan)
    zeros: dict[bytes, np.ndarray] = {}  # cells seen at 0 under each set of known cells
    for t, cell in enumerate(targets):
        known = owners.known(cell)
        known = known[suppressed[known]]
        zero = zeros.setdefault(np.sort(known).tobytes(), np.zeros(x.size, dtype=bool))
        lower[t], upper[t] = outsider.interval(cell, known, zero)
        ok[t] = is_protected(x[cell], lower[t], upper[t], up[t], down[t])
        if not ok[t] and known.size:
            if deviation is None:
                deviation = _Deviation(A, x, suppressed)
            ok[t] = True
            for amount in (up[t] * (1 + 1e-6), -min(down[t] * (1 + 1e-6), x[cell])):
                if amount == 0:
                    continue
                moved = deviation.shift(cell, amount, np.zeros(0, dtype=np.int64))
                if moved is None:
                    ok[t] = False
                    break
                for attacker in known[moved[known]]:
                    if deviation.shift(cell, amount, np.array([attacker])) is None:
                        ok[t] = False
                        break
                if not ok[t]:
                    break
        if stop and not ok[t]:
            break
    solves = outsider.model.solves + (deviation.model.solves if deviation is not None else 0)
    return ok, lower, upper, solves


def publish_unneeded(A: sp.csr_matrix, x: np.ndarray, cost: np.ndarray, suppressed: np.ndarray,
             primary: np.ndarray, up: np.ndarray, down: np.ndarray,
             budget: int, owners: Owners | None = None,
             exposed: np.ndarray | None = None) -> tuple[np.ndarray, int]:
    """Publish again every secondary cell the primaries do not need (costliest first).

    A secondary cell is tried only against the primaries it is linked to
    (same connected component of suppressed cells through the equations),
    nearest first (those sharing an equation with it); the check stops at the
    first primary that would be exposed. No new trial starts once ``budget``
    LPs have been solved. With ``owners`` the check includes the singleton
    attack (for the primaries not already ``exposed`` to it).
    """
    suppressed = suppressed.copy()
    n_lp = 0
    absA = abs(A).tocsc()
    candidates = np.flatnonzero(suppressed & ~primary)
    candidates = candidates[np.argsort(-cost[candidates], kind="stable")]
    for cell in candidates:
        if n_lp >= budget:
            break
        component = _components(A, suppressed)
        linked = np.flatnonzero((component == component[cell]) & primary & suppressed)
        if linked.size == 0:
            suppressed[cell] = False
            continue
        near = np.asarray(absA[:, linked].T @ absA[:, [cell]].toarray()).ravel() > 0
        linked = np.concatenate([linked[near], linked[~near]])
        trial = suppressed.copy()
        trial[cell] = False
        lo, hi, m = outsider_interval(A, x, trial, linked, stop_below=(up[linked], down[linked]))
        n_lp += m
        ok = is_protected(x[linked], lo, hi, up[linked], down[linked]).all()
        if ok and owners is not None:
            guarded = linked[~exposed[linked]] if exposed is not None else linked
            checked, _, _, m = singleton_check(A, x, trial, guarded, up[guarded],
                                                down[guarded], owners, stop=True)
            n_lp += m
            ok = bool(checked.all())
        if ok:
            suppressed = trial
    return suppressed, n_lp


def secondary_suppression(A: sp.csr_matrix, x: np.ndarray, cost: np.ndarray, empty: np.ndarray,
               suppressed: np.ndarray, primaries: np.ndarray, upl: np.ndarray,
               lpl: np.ndarray, owners: Owners | None = None,
               grid: tuple[int, np.ndarray, np.ndarray] | None = None,
               ) -> tuple[np.ndarray, int, np.ndarray]:
    """Add cells to ``suppressed`` until each primary can move by its protection.

    For a primary p and a direction, solve
    min sum c_i (y+_i + y-_i) s.t. A (y+ - y-) = 0, y+_p - y-_p = +-protection,
    0 <= y-_i <= x_i, y = 0 on empty cells; then suppress every cell with y != 0.
    The solution is a feasible table that agrees with every published cell,
    which proves the outsider's interval reaches the protection. Each solve
    is normalised by its protection (``y / protection``, so the primary moves
    by exactly 1) to keep the flows well above the solver's tolerances.

    With ``owners``: a firm that alone makes up another suppressed cell
    knows that cell exactly, so a certificate that moves it does not convince
    that firm. For each such cell the first certificate moves, one more
    certificate is solved with that cell fixed; the union protects against
    outsiders and against each of those firms. When a cell cannot be fixed
    (no certificate exists) the primary is returned in ``exposed``.

    With ``grid = (n_c, leaf_row, leaf_col)`` (a two-way table, cell
    ``r * n_c + c``) a certificate is first sought without a linear programme:
    a rectangle of already suppressed leaf cells (the primary, one cell in its
    row, one in its column and the opposite corner) that avoids every cell a
    singleton attacker knows, whose cells moving down hold at least the
    protection. Moving its corners by the protection, alternately up and down,
    keeps every margin of the table: it is a certificate as the programme's,
    with no new suppression (which the programme, whose suppressed cells cost
    almost nothing, would not add either).
    """
    n = x.size
    suppressed = suppressed.copy()
    hi_plus = np.where(empty, 0.0, np.inf)
    hi_minus = np.where(empty, 0.0, x)
    model = _LinearProgram(sp.hstack([A, -A]), np.zeros(A.shape[0]),
                           np.zeros(2 * n), np.concatenate([hi_plus, hi_minus]),
                           primal=False)
    cheap = 1e-6 * float(cost.min(initial=1.0))
    c_cell = np.where(suppressed, cheap, cost)
    model.set_cost(np.arange(2 * n), np.concatenate([c_cell, c_cell]))
    minus_cols = np.arange(n, 2 * n)
    zeros = np.zeros(n)
    exposed = []

    def certificate(p: int, sign: float, amount: float, fixed: np.ndarray) -> np.ndarray | None:
        upper_minus = hi_minus / amount
        upper_minus[fixed] = 0.0
        if fixed.size:
            model.set_bounds(fixed, np.zeros(fixed.size), np.zeros(fixed.size))
        if sign > 0:
            upper_minus[p] = 0.0
            model.set_bounds(minus_cols, zeros, upper_minus)
            model.set_bounds([p], [1.0], [1.0])
        else:
            upper_minus[p] = 1.0
            lower_minus = zeros.copy()
            lower_minus[p] = 1.0
            model.set_bounds(minus_cols, lower_minus, upper_minus)
            model.set_bounds([p], [0.0], [0.0])
        status, sol = model.solve()
        model.set_bounds([p], [0.0], [hi_plus[p]])
        if fixed.size:
            model.set_bounds(fixed, np.zeros(fixed.size), hi_plus[fixed])
        if status != "optimal":
            if fixed.size:
                return None
            raise DisclosureError(f"secondary suppression failed for cell {p}: {status}")
        return np.abs(sol[:n] - sol[n:]) > 1e-7

    rect = None
    if grid is not None:
        n_c, leaf_row, leaf_col = grid
        n_r = n // n_c
        leaf = np.outer(leaf_row, leaf_col).ravel()
        filled = ~empty

    def rectangle(p: int, sign: float, amount: float, avoid: np.ndarray) -> np.ndarray | None:
        if grid is None or not leaf[p]:
            return None
        i, j = divmod(int(p), n_c)
        usable = suppressed & leaf & filled
        usable[avoid] = False
        usable[p] = False
        S = usable.reshape(n_r, n_c)
        deep = (usable & (x >= amount)).reshape(n_r, n_c)  # may move down by the protection
        # p up: its row and column partners move down, the opposite corner up; p down: reverse
        side_ok, corner_ok = (deep, S) if sign > 0 else (S, deep)
        rows = np.flatnonzero(side_ok[:, j])
        cols = np.flatnonzero(side_ok[i, :])
        if rows.size == 0 or cols.size == 0:
            return None
        block = corner_ok[np.ix_(rows, cols)]
        hit = np.argwhere(block)
        if hit.size == 0:
            return None
        k, l_ = rows[hit[0, 0]], cols[hit[0, 1]]
        moved = np.zeros(n, dtype=bool)
        moved[[p, i * n_c + l_, k * n_c + j, k * n_c + l_]] = True
        return moved

    def take(moved: np.ndarray) -> None:
        new = np.flatnonzero(moved & ~suppressed)
        if new.size:
            suppressed[new] = True
            model.set_cost(np.concatenate([new, n + new]), np.full(2 * new.size, cheap))

    for p, up, down in zip(primaries, upl, lpl, strict=False):
        known = owners.known(p) if owners is not None else np.zeros(0, dtype=np.int64)
        for sign, amount in ((1.0, up), (-1.0, down)):
            if amount <= 0:
                continue
            if rectangle(p, sign, amount, known) is not None:
                continue  # already protected in this direction by suppressed cells
            moved = certificate(p, sign, amount, np.zeros(0, dtype=np.int64))
            take(moved)
            for attacker in known[moved[known]]:
                moved_again = certificate(p, sign, amount, np.array([attacker]))
                if moved_again is None:
                    exposed.append(p)
                else:
                    take(moved_again)
    return suppressed, model.solves, np.unique(np.asarray(exposed, dtype=np.int64))




def is_protected(x: np.ndarray, lower: np.ndarray, upper: np.ndarray, up: np.ndarray,
               down: np.ndarray) -> np.ndarray:
    """The interval reaches the required protection (to 1e-6 of the protection)."""
    reach_up = upper - x >= up * (1.0 - 1e-6)
    reach_down = x - lower >= down * (1.0 - 1e-6)
    return reach_up & reach_down
