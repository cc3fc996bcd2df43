{#
  Start population of year Y with its starting salary and plan state.
  Y0: the census's active rows (age as of Dec 31 of Y0-1, tenure Y0 - hire year).
  Y > Y0: exactly the active rows of the year Y-1 snapshot, read as a source (no DAG cycle), with age and
  tenure + 1 and salary = last year's full-year-equivalent pay.
  vesting_service_years: the years of vesting service completed before Y (the census's, or last year's snapshot's).
  is_hce: paid more than the HCE threshold of Y - 1 (config_hce_threshold) in Y - 1: the census compensation in
  the first year (it stands for the year before), else last year's prorated pay.
  opening_*_balance: each employer-money account on Jan 1 of Y: the census balances (reallocation 0), or last year's
  balance of an active person (opening + contributions + earnings, employer_accounts.sql), carried here so
  fct_employer_accounts needs no join with last year's accounts.
  Census participants with a rate > 0 are enrolled as of the census date at the latest (an eligibility entry date
  after it is the plan's paperwork, not a later enrollment): they defer from Jan 1 and escalate from Y0 on.
  Both relations are resolved outside the branch so dbt records both dependencies at parse time.
#}
{% set census = ref('stg_census_data') %}
{% set previous_snapshot = source('simulation_state', 'fct_workforce_snapshot') %}

with start_population as (
{% if sim_year() | int == start_year() | int %}
    select
        employee_id,
        employee_ssn,
        employee_birth_date,
        employee_hire_date,
        level_id,
        current_age,
        current_tenure,
        employee_gross_compensation as starting_compensation,
        employee_deferral_rate as deferral_rate,
        employee_deferral_rate > 0 as is_enrolled,
        case when employee_deferral_rate > 0
             then least(coalesce(eligibility_entry_date, employee_hire_date), make_date({{ start_year() }} - 1, 12, 31))
        end as enrollment_date,
        false as opted_out_flag,
        CAST(NULL AS INTEGER) as opt_out_year,
        vesting_service_years,
        employee_gross_compensation as lookback_compensation,
        employer_match_balance as opening_match_balance,
        employer_core_balance as opening_core_balance,
        0 as opening_reallocation_balance
    from {{ census }}
    where is_start_population
{% else %}
    select
        employee_id,
        employee_ssn,
        employee_birth_date,
        employee_hire_date,
        level_id,
        current_age + 1 as current_age,
        current_tenure + 1 as current_tenure,
        full_year_equivalent_compensation as starting_compensation,
        current_deferral_rate as deferral_rate,
        is_enrolled_flag as is_enrolled,
        enrollment_date,
        opted_out_flag,
        opt_out_year,
        vesting_service_years,
        prorated_annual_compensation as lookback_compensation,
        {{ account_balance('opening_match_balance', 'employer_match_amount') }} as opening_match_balance,
        {{ account_balance('opening_core_balance', 'employer_core_amount') }} as opening_core_balance,
        {{ account_balance('opening_reallocation_balance', 'reallocated_forfeitures') }} as opening_reallocation_balance
    from {{ previous_snapshot }}
    where simulation_year = {{ sim_year() }} - 1
      and employment_status = 'active'
{% endif %}
)

select
    employee_id,
    employee_ssn,
    employee_birth_date,
    employee_hire_date,
    {{ sim_year() }} as simulation_year,
    level_id,
    current_age,
    current_tenure,
    {{ age_band('current_age') }} as age_band,
    {{ tenure_band('current_tenure') }} as tenure_band,
    {{ money('starting_compensation') }} as starting_compensation,
    {{ rate('deferral_rate') }} as deferral_rate,
    is_enrolled,
    enrollment_date,
    opted_out_flag,
    opt_out_year,
    vesting_service_years,
    CAST(opening_match_balance AS DECIMAL(14, 2)) as opening_match_balance,
    CAST(opening_core_balance AS DECIMAL(14, 2)) as opening_core_balance,
    CAST(opening_reallocation_balance AS DECIMAL(14, 2)) as opening_reallocation_balance,
    lookback_compensation > {{ guarded('t.hce_compensation_threshold', 't.hce_compensation_threshold is null',
                                       "'config_hce_threshold has no row for " ~ (sim_year() | int - 1)
                                       ~ ": add the year to dbt/seeds/config_hce_threshold.csv'") }} as is_hce
from start_population
left join {{ ref('config_hce_threshold') }} t on t.lookback_year = {{ sim_year() }} - 1
