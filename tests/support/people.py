"""Constructed census people for the plan-rule tests: only what a rule reads differs from one person to the next."""

import datetime as dt


def census_row(ssn: str, emp: str, birth: dt.date, hire: dt.date, pay: int, rate: float) -> dict:
    """An active person with no contributions yet, paid `pay` (capped at 350,000 in the census's own column)."""
    return {"employee_id": emp, "employee_ssn": ssn, "employee_birth_date": birth, "employee_hire_date": hire,
            "employee_termination_date": None, "employee_gross_compensation": pay,
            "employee_capped_compensation": min(pay, 350000), "employee_deferral_rate": rate,
            "employee_contribution": 0, "pre_tax_contribution": 0, "roth_contribution": 0,
            "after_tax_contribution": 0, "employer_core_contribution": 0, "employer_match_contribution": 0,
            "eligibility_entry_date": hire, "active": True}
