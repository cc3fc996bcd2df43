{{ config(materialized='year_slice') }}
{#
  Every event of year Y, one row each (simulation.md 3). event_sequence orders a person's events of the year by
  date, then type: hire < eligibility < promotion < raise < enrollment < enrollment_change < deferral_escalation <
  deferral_change < termination.
#}
with events as (
    select * from {{ ref('int_hiring_events') }}
    union all by name
    select * from {{ ref('int_promotion_events') }}
    union all by name
    select * from {{ ref('int_merit_events') }}
    union all by name
    select * from {{ ref('int_enrollment_events') }}
    union all by name
    select * from {{ ref('int_deferral_escalation_events') }}
    union all by name
    select * from {{ ref('int_plan_response_events') }}
    union all by name
    select * from {{ ref('int_termination_events') }}
    union all by name
    select * from {{ ref('int_new_hire_termination_events') }}
)

select
    employee_id,
    employee_ssn,
    event_type,
    CAST(simulation_year AS INTEGER) as simulation_year,
    CAST(effective_date AS DATE) as effective_date,
    event_details,
    CAST(compensation_amount AS DECIMAL(14, 2)) as compensation_amount,
    CAST(previous_compensation AS DECIMAL(14, 2)) as previous_compensation,
    CAST(employee_deferral_rate AS DECIMAL(7, 4)) as employee_deferral_rate,
    CAST(prev_employee_deferral_rate AS DECIMAL(7, 4)) as prev_employee_deferral_rate,
    CAST(employee_age AS INTEGER) as employee_age,
    CAST(employee_tenure AS INTEGER) as employee_tenure,
    CAST(level_id AS INTEGER) as level_id,
    age_band,
    tenure_band,
    CAST(event_probability AS DOUBLE) as event_probability,
    event_category,
    CAST(row_number() over (
        partition by employee_id
        order by effective_date,
            CASE event_type
                WHEN 'hire' THEN 1 WHEN 'eligibility' THEN 2 WHEN 'promotion' THEN 3 WHEN 'raise' THEN 4
                WHEN 'enrollment' THEN 5 WHEN 'enrollment_change' THEN 6 WHEN 'deferral_escalation' THEN 7
                WHEN 'deferral_change' THEN 8 WHEN 'termination' THEN 9
            END
    ) AS INTEGER) as event_sequence
from events
