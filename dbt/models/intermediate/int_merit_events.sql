{#
  Merit + COLA raises on Jul 15 (simulation.md 3.4) for the start population with tenure >= 1 not terminated
  before Jul 15: new salary = salary after any promotion x (1 + merit_budget + cola_rate), rounded to cents.
#}
with population as (
    select * from {{ ref('int_employee_compensation_by_year') }}
),

promotions as (
    select employee_id, compensation_amount, level_id from {{ ref('int_promotion_events') }}
),

early_leavers as (
    select employee_id from {{ ref('int_termination_events') }}
    where effective_date < make_date({{ sim_year() }}, 7, 15)
),

eligible as (
    select
        p.*,
        coalesce(pr.compensation_amount, p.starting_compensation) as salary_before_raise,
        coalesce(pr.level_id, p.level_id) as level_after_promotion
    from population p
    left join promotions pr using (employee_id)
    where p.current_tenure >= 1
      and p.employee_id not in (select employee_id from early_leavers)
)

select
    employee_id,
    employee_ssn,
    'raise' as event_type,
    {{ sim_year() }} as simulation_year,
    make_date({{ sim_year() }}, 7, 15) as effective_date,
    'merit ' || {{ var('compensation__merit_budget') }} || ' + cola ' || {{ var('compensation__cola_rate') }} as event_details,
    {{ money('salary_before_raise * (1 + CAST(' ~ var('compensation__merit_budget') ~ ' AS DECIMAL(9, 6)) + CAST(' ~ var('compensation__cola_rate') ~ ' AS DECIMAL(9, 6)))') }} as compensation_amount,
    salary_before_raise as previous_compensation,
    deferral_rate as employee_deferral_rate,
    deferral_rate as prev_employee_deferral_rate,
    current_age as employee_age,
    current_tenure as employee_tenure,
    level_after_promotion as level_id,
    age_band,
    tenure_band,
    CAST(NULL AS DOUBLE) as event_probability,
    'merit_raise' as event_category
from eligible
