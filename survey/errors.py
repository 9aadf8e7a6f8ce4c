"""Errors and warnings of the toolkit.

Every error a user can trigger is a subclass of :class:`SurveyError`, which is
itself a :class:`ValueError`, so ``except ValueError`` keeps working. Messages
name what is wrong and where (column, stratum, domain, row) and say what to do.
"""

from __future__ import annotations

__all__ = [
    "SurveyError",
    "ColumnError",
    "DesignError",
    "LonelyPSUError",
    "WeightError",
    "CalibrationError",
    "ReplicateError",
    "FrameError",
    "AllocationError",
    "SelectionError",
    "LedgerError",
    "EditError",
    "ImputationError",
    "ChannelError",
    "PeriodError",
    "DisclosureError",
    "ConfigError",
    "ReportError",
    "TableError",
    "PlanError",
    "FormError",
    "SmallAreaError",
    "SurveyWarning",
]


class SurveyError(ValueError):
    """Base class of every error the toolkit raises on bad input."""


class ColumnError(SurveyError):
    """A column is unknown, has the wrong type, or holds missing values."""


class DesignError(SurveyError):
    """The sample design is inconsistent (fpc below sample count, bad strata...)."""


class LonelyPSUError(DesignError):
    """A stratum has a single PSU and ``lonely_psu="fail"``."""


class WeightError(SurveyError):
    """Weights or probabilities are missing, zero, negative or inconsistent."""


class CalibrationError(SurveyError):
    """Calibration cannot reach its targets (the message says which and how far)."""


class ReplicateError(SurveyError):
    """Replicate weights cannot be formed for this design."""


class FrameError(SurveyError):
    """The register (sampling frame) fails a check: duplicate ids, bad sizes, codes."""


class AllocationError(SurveyError):
    """A sample allocation is infeasible (the message names domain and variable)."""


class SelectionError(SurveyError):
    """A sample cannot be selected as asked."""


class LedgerError(SurveyError):
    """A file or operation on the returns ledger is rejected."""


class EditError(SurveyError):
    """An edit rule is malformed or refers to unknown columns."""


class ImputationError(SurveyError):
    """Imputation cannot be carried out (no donors, no links...)."""


class ChannelError(SurveyError):
    """Channel unit lists cannot be combined (conflicts, unknown ids)."""


class PeriodError(SurveyError):
    """A period label or a period series is malformed or inconsistent."""


class DisclosureError(SurveyError):
    """A table cannot be protected as asked."""


class ConfigError(SurveyError):
    """The survey configuration file has an error (the message gives the key path)."""


class ReportError(SurveyError):
    """The content given to the bulletin renderer is incomplete or inconsistent."""


class TableError(SurveyError):
    """A table file cannot be read as a table: unknown format, wrong encoding, a cut-off
    last record, duplicate or empty column names (the message names file, line, column).

    Attributes
    ----------
    path : str or None
        The file.
    line : int or None
        The line (CSV, header = line 1) or row (Excel) at fault, when known.
    column : str or None
        The column at fault, when known.
    """

    def __init__(self, message: str, *, path: object = None, line: int | None = None,
                 column: str | None = None) -> None:
        super().__init__(message)
        self.path = None if path is None else str(path)
        self.line = line
        self.column = column


class PlanError(SurveyError):
    """A sample plan specification has a bad value (the message gives the key path)."""


class FormError(SurveyError):
    """A return form description is inconsistent (e.g. a stock that is no indicator)."""


class SmallAreaError(SurveyError):
    """The small-area model cannot be fitted (too few areas, no convergence...)."""


class SurveyWarning(UserWarning):
    """A result is valid but deserves attention (e.g. a collapsed stratum)."""
