{#
  The census as of Dec 31 of the year before the first simulated year: typed columns plus derived level, age and
  tenure. Rows terminated during the census year stay here (is_start_population = false).
  Tenure follows the one rule for everybody (docs/simulation.md): tenure in year Y = Y - year(hire date), so the
  first simulated year carries Y0 - year(hire), exactly what a simulated hire of that year would have.
  The opening employer-money balances and years of vesting service come from the census when it has them (a
  blank or absent balance is 0; absent vesting service is the completed years since hire as of the census date).
#}
with census as (
    select * from {{ source('census', 'raw_census') }}
),

levels as (
    select level_id, min_compensation from {{ ref('config_job_levels') }}
),

as_of as (
    select make_date({{ start_year() }} - 1, 12, 31) as census_date
)

select
    c.employee_id,
    c.employee_ssn,
    c.employee_birth_date,
    c.employee_hire_date,
    c.employee_termination_date,
    c.employee_gross_compensation,
    c.employee_deferral_rate,
    c.eligibility_entry_date,
    coalesce(c.employer_match_balance, 0) as employer_match_balance,
    coalesce(c.employer_core_balance, 0) as employer_core_balance,
    coalesce(c.vesting_service_years, greatest(0, {{ start_year() }} - 1 - year(c.employee_hire_date)))
        as vesting_service_years,
    coalesce(
        (select max(l.level_id) from levels l where l.min_compensation <= c.employee_gross_compensation),
        (select min(level_id) from levels)
    ) as level_id,
    date_sub('year', c.employee_birth_date, a.census_date) as current_age,
    {{ start_year() }} - year(c.employee_hire_date) as current_tenure,
    (c.active and c.employee_termination_date is null) as is_start_population
from census c
cross join as_of a
