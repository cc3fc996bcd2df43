{#
  The census as of Dec 31 of the year before the first simulated year: typed columns plus derived level, age and
  tenure. Rows terminated during the census year stay here (is_start_population = false).
  Tenure follows the one rule for everybody (docs/simulation.md): tenure in year Y = Y - year(hire date), so the
  first simulated year carries Y0 - year(hire), exactly what a simulated hire of that year would have.
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
    coalesce(
        (select max(l.level_id) from levels l where l.min_compensation <= c.employee_gross_compensation),
        (select min(level_id) from levels)
    ) as level_id,
    date_sub('year', c.employee_birth_date, a.census_date) as current_age,
    {{ start_year() }} - year(c.employee_hire_date) as current_tenure,
    (c.active and c.employee_termination_date is null) as is_start_population
from census c
cross join as_of a
