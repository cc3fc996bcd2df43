{#
  One row per person employed at any time in year Y: start population plus hires, with the events of Y applied.
  Pay and the requested deferral are sums over int_employee_pay_periods: prorated pay = each salary x the days it
  applied / days in year; requested deferral = the rate in force each day x the pay earned that day (before limits).
  pay_stretches keeps the day stretches of the people whose match per pay period may differ from the annual
  formula (more than one deferral rate, or past the year's 402(g) base or 401(a)(17) limit): the only ones
  int_employee_contributions computes period by period, read here so the stretches are built once a year.
#}
with events as (
    select * from {{ ref('fct_yearly_events') }} where simulation_year = {{ sim_year() }}
),

hires as (
    select employee_id, employee_ssn, employee_birth_date, effective_date as employee_hire_date, level_id,
           employee_age as current_age, employee_tenure as current_tenure, compensation_amount as starting_compensation
    from {{ ref('int_hiring_events') }}
),

people as (
    select
        employee_id, employee_ssn, employee_birth_date, employee_hire_date, level_id, current_age, current_tenure,
        starting_compensation, deferral_rate as starting_deferral_rate, enrollment_date, opted_out_flag,
        opt_out_year, false as is_new_hire, vesting_service_years as prior_vesting_years, opening_match_balance,
        opening_core_balance, opening_reallocation_balance, is_hce
    from {{ ref('int_employee_compensation_by_year') }}
    union all
    select
        employee_id, employee_ssn, employee_birth_date, employee_hire_date, level_id, current_age, current_tenure,
        starting_compensation, CAST(0 AS DECIMAL(7, 4)), CAST(NULL AS DATE), false, CAST(NULL AS INTEGER), true, 0, 0,
        0, 0, false
    from hires
),

terminations as (
    select employee_id, effective_date as termination_date from events where event_type = 'termination'
),

periods as materialized (
    select * from {{ ref('int_employee_pay_periods') }}
),

pay as (
    -- integer arithmetic, half up: cents x days / days in year; cents x rate in basis points x days / (10,000 x
    -- days in year), so the sums are identical whatever the thread count
    select
        employee_id,
        min(period_start) as employed_from,
        max(period_end) as employed_to,
        sum(days) as days_employed,
        CAST((2 * sum(CAST(salary * 100 AS HUGEINT) * days) + {{ days_in_year() }})
             // (2 * {{ days_in_year() }}) AS DECIMAL(18, 0)) / 100 as prorated_annual_compensation,
        CAST((2 * sum(CAST(salary * 100 AS HUGEINT) * CAST(deferral_rate * 10000 AS HUGEINT) * days)
              + 10000 * {{ days_in_year() }}) // (2 * 10000 * {{ days_in_year() }}) AS DECIMAL(18, 0)) / 100
            as requested_contribution,
        arg_max(salary, period_start) as current_compensation,
        max(salary) as highest_compensation,
        min(deferral_rate) <> max(deferral_rate) as deferral_rate_changed
    from periods
    group by employee_id
),

irs as (
    select base_limit, compensation_limit from {{ ref('config_irs_limits') }} where limit_year = {{ sim_year() }}
),

stretches as (
    -- listed only for the few who need them: a list for everybody held about 0.5 GB more at 1,000,000 people
    select employee_id,
           list(struct_pack(period_start := period_start, period_end := period_end, salary := salary,
                            deferral_rate := deferral_rate) order by period_start) as pay_stretches
    from periods
    semi join (
        select employee_id from pay, irs
        where deferral_rate_changed or requested_contribution > base_limit
              or prorated_annual_compensation > compensation_limit
    ) using (employee_id)
    group by employee_id
),

employment as (
    select p.*, t.termination_date
    from people p
    left join terminations t using (employee_id)
),

deferral_changes as (
    select
        employee_id,
        employee_deferral_rate,
        event_type,
        effective_date,
        row_number() over (partition by employee_id order by event_sequence desc) as recency
    from events where event_type in ('enrollment', 'enrollment_change', 'deferral_escalation', 'deferral_change')
),

plan_state as (
    select
        employee_id,
        max(employee_deferral_rate) filter (where recency = 1) as final_deferral_rate,
        min(effective_date) filter (where event_type = 'enrollment') as new_enrollment_date,
        bool_or(event_type = 'enrollment_change') as opted_out_this_year
    from deferral_changes
    group by employee_id
),

promotions as (
    select employee_id, level_id as promoted_level_id from events where event_type = 'promotion'
)

select
    e.employee_id,
    e.employee_ssn,
    e.employee_birth_date,
    e.employee_hire_date,
    {{ sim_year() }} as simulation_year,
    coalesce(pr.promoted_level_id, e.level_id) as level_id,
    e.current_age,
    e.current_tenure,
    e.is_new_hire,
    e.termination_date,
    p.employed_from,
    p.employed_to,
    p.days_employed,
    p.current_compensation,
    p.highest_compensation,
    CAST(p.prorated_annual_compensation AS DECIMAL(14, 2)) as prorated_annual_compensation,
    CAST(p.requested_contribution AS DECIMAL(14, 2)) as requested_contribution,
    CAST(coalesce(ps.final_deferral_rate, e.starting_deferral_rate) AS DECIMAL(7, 4)) as current_deferral_rate,
    coalesce(e.enrollment_date, ps.new_enrollment_date) as enrollment_date,
    -- the opt-out stands until a voluntary enrollment ends it (the rate is then above 0 again)
    (e.opted_out_flag or coalesce(ps.opted_out_this_year, false))
        and coalesce(ps.final_deferral_rate, e.starting_deferral_rate) = 0 as opted_out_flag,
    CASE WHEN ps.opted_out_this_year THEN {{ sim_year() }} ELSE e.opt_out_year END as opt_out_year,
    p.deferral_rate_changed,
    -- vesting service after Y: elapsed, a year for each year after the hire year (the tenure rule); hours, a year
    -- for each year with at least vesting.hours_per_year hours (2,080 x days employed / days in year)
    CAST(e.prior_vesting_years + CASE WHEN {{ "e.is_new_hire" if var('vesting__service') == 'elapsed'
        else "2080.0 * p.days_employed / " ~ days_in_year() ~ " < " ~ var('vesting__hours_per_year') }}
        THEN 0 ELSE 1 END AS INTEGER) as vesting_service_years,
    e.opening_match_balance,
    e.opening_core_balance,
    e.opening_reallocation_balance,
    e.is_hce,
    st.pay_stretches
from employment e
join pay p using (employee_id)
left join stretches st using (employee_id)
left join plan_state ps using (employee_id)
left join promotions pr using (employee_id)
