{#
  Automatic deferral escalation on Jan 1 (simulation.md 3.7): enrolled people whose enrollment year is before Y,
  with 0 < rate < cap, go to min(cap, rate + increment). Never lowers a rate, at most once a year.
#}
{% set cap = var('deferral_auto_escalation__cap') %}
{% set increment = var('deferral_auto_escalation__increment') %}

select
    employee_id,
    employee_ssn,
    'deferral_escalation' as event_type,
    {{ sim_year() }} as simulation_year,
    {{ year_start() }} as effective_date,
    'escalation +' || {{ increment }} || ' up to ' || {{ cap }} as event_details,
    starting_compensation as compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    {{ rate('least(' ~ rate(cap) ~ ', deferral_rate + ' ~ rate(increment) ~ ')') }} as employee_deferral_rate,
    deferral_rate as prev_employee_deferral_rate,
    current_age as employee_age,
    current_tenure as employee_tenure,
    level_id,
    age_band,
    tenure_band,
    CAST(NULL AS DOUBLE) as event_probability,
    'deferral_escalation' as event_category
from {{ ref('int_employee_compensation_by_year') }}
where {{ 'true' if var('deferral_auto_escalation__enabled') else 'false' }}
  and is_enrolled
  and deferral_rate > 0
  and deferral_rate < {{ rate(cap) }}
  and (enrollment_date is null or year(enrollment_date) < {{ sim_year() }})
