"""SQL text helpers shared by the ledger queries: literals, identifiers, finiteness.

Part of :mod:`survey.returns.sql` (see its docstring and ``docs/scale.md``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    pass

__all__ = ['quote_identifier', 'sql_literal']

def sql_literal(text: Any) -> str:
    """A SQL string literal (quotes doubled).

    Examples
    --------
    >>> print(sql_literal("O'Brien"))
    'O''Brien'
    """
    return "'" + str(text).replace("'", "''") + "'"


def quote_identifier(name: str) -> str:
    """A quoted SQL identifier (double quotes doubled).

    Examples
    --------
    >>> print(quote_identifier("gross_output_ytd"))
    "gross_output_ytd"
    """
    return '"' + str(name).replace('"', '""') + '"'
