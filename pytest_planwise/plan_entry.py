"""The day a person enters the plan, as docs/simulation.md "Plan eligibility" states it, written apart from the SQL
so invariants can check the model: the first entry date on or after the later of the birthday of
eligibility.minimum_age and the hire date plus eligibility.service_months (a day past a month's end, such as a
Feb 29 birthday or Jan 31 + 1 month, falls on that month's last day)."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Any, Mapping

ENTRY_MONTHS = {"immediate": 0, "monthly": 1, "quarterly": 3, "semi_annual": 6}  # months between entry dates


def add_months(day: date, months: int) -> date:
    """`day` that many calendar months later, on the month's last day when it has fewer days."""
    year, month = divmod(day.month - 1 + months, 12)
    year, month = day.year + year, month + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def entry_date(cfg: Mapping[str, Any], birth: date, hire: date) -> date:
    """The plan entry date of a person born `birth` and hired `hire` under the config's eligibility keys."""
    met = max(hire, add_months(birth, 12 * cfg["eligibility.minimum_age"]),
              add_months(hire, cfg["eligibility.service_months"]))
    step = ENTRY_MONTHS[cfg["eligibility.entry_dates"]]
    if step == 0:
        return met
    entries = [date(met.year, month, 1) for month in range(1, 13, step)] + [date(met.year + 1, 1, 1)]
    return next(day for day in entries if day >= met)
