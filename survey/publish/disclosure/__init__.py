"""Disclosure control for magnitude tables: primary and secondary cell suppression.

A published table of totals (gross output by county x industry, export delivery
by zone) must not let anyone work out one firm's figure. This module takes the
unit-level data behind a table and

1. tabulates it, with every margin of a (hierarchical) one- or two-way table:
   the number of firms and of *contributors* (firms of one enterprise group
   count as one contributor), the total, and the largest contributions;
2. applies the **primary** rules (minimum frequency, (n,k) dominance, p%) with
   vectorised group sorts and computes for each sensitive cell the protection
   it needs (how far an outsider's interval for the cell must reach above and
   below the true value);
3. chooses **secondary** suppressions by linear programming (HiGHS through
   :func:`scipy.optimize.linprog`): for each sensitive cell and each direction
   it finds the cheapest set of cells whose suppression lets the cell move by
   its protection while every published cell and every additivity equation of
   the table stays true; the union of these sets protects every cell, because
   suppressing more cells only widens what an outsider cannot pin down; a
   firm that alone makes up a suppressed cell knows that cell, so it gets
   its own solution in which its cell stays fixed; a clean-up then publishes
   again the secondary cells no sensitive cell needs;
4. **audits** the result: for every suppressed cell it solves the two linear
   programmes an outsider would solve (minimum and maximum of the cell given
   the published cells, the additive structure and non-negativity) and checks
   that the interval reaches the required protection (also against each
   single-firm cell's owner); a cell that fails is
   fed back to step 3 (verification loop) and an unprotectable table raises
   :class:`~survey.errors.DisclosureError`.

See ``docs/disclosure.md`` for the rules, the formulas of the protection
levels and worked examples.
"""

from __future__ import annotations

from survey.publish.disclosure.protect import audit_suppression, protect_table, protect_tables
from survey.publish.disclosure.results import ProtectedTable
from survey.publish.disclosure.rules import DisclosureRules

__all__ = ["DisclosureRules", "ProtectedTable", "protect_table", "protect_tables", "audit_suppression"]
