{#
  Pay and deferral periods of year Y (simulation.md 4 and 5): one row per stretch of days inside a person's
  employment (from Jan 1 or the hire date to the termination date or Dec 31) over which both the salary and the
  deferral rate stay the same. The salary changes on hire, promotion and raise dates; the rate on enrollment,
  opt-out (enrollment_change), escalation and deferral_change dates. Several changes on one day: the last one (by event_sequence)
  holds for that whole day. Prorated pay and the employee's requested deferral are sums over these rows.
#}
with events as (
    select * from {{ ref('fct_yearly_events') }} where simulation_year = {{ sim_year() }}
),

start_population as (
    select employee_id, starting_compensation, deferral_rate from {{ ref('int_employee_compensation_by_year') }}
),

employment as (
    select e.employee_id, e.employed_from, coalesce(t.effective_date, {{ year_end() }}) as employed_to
    from (
        select employee_id, {{ year_start() }} as employed_from from start_population
        union all
        select employee_id, effective_date from events where event_type = 'hire'
    ) e
    left join events t on t.employee_id = e.employee_id and t.event_type = 'termination'
),

changes as (
    -- what the start population holds from Jan 1, then every event that sets a salary or a rate
    select employee_id, {{ year_start() }} as change_date, 0 as change_order, starting_compensation as salary,
           deferral_rate
    from start_population
    union all
    select employee_id, effective_date, event_sequence,
           CASE WHEN event_type in ('hire', 'promotion', 'raise') THEN compensation_amount END,
           CASE WHEN event_type in ('hire', 'enrollment', 'enrollment_change', 'deferral_escalation', 'deferral_change')
                THEN employee_deferral_rate END
    from events
    where event_type in ('hire', 'promotion', 'raise', 'enrollment', 'enrollment_change', 'deferral_escalation',
                         'deferral_change')
),

in_force as (
    select
        employee_id,
        change_date,
        change_order,
        last_value(salary ignore nulls) over running as salary,
        last_value(deferral_rate ignore nulls) over running as deferral_rate
    from changes
    window running as (partition by employee_id order by change_date, change_order
                       rows between unbounded preceding and current row)
),

end_of_day as (
    select * from in_force
    qualify row_number() over (partition by employee_id, change_date order by change_order desc) = 1
),

bounded as (
    select
        d.employee_id,
        d.salary,
        d.deferral_rate,
        greatest(d.change_date, e.employed_from) as period_start,
        least(coalesce(lead(d.change_date) over (partition by d.employee_id order by d.change_date) - 1,
                       {{ year_end() }}), e.employed_to) as period_end
    from end_of_day d
    join employment e using (employee_id)
)

select
    employee_id,
    {{ sim_year() }} as simulation_year,
    period_start,
    period_end,
    period_end - period_start + 1 as days,
    CAST(salary AS DECIMAL(14, 2)) as salary,
    CAST(deferral_rate AS DECIMAL(7, 4)) as deferral_rate
from bounded
where period_end >= period_start
