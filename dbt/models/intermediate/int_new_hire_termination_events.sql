{#
  New-hire terminations (simulation.md 3.6): exactly T_nh of this year's hires leave, the smallest u('nh_term')
  among hires with at least one day left in the year; dated strictly after the hire date, at the latest Dec 31.
#}
with hires as (
    select * from {{ ref('int_hiring_events') }}
    where effective_date < {{ year_end() }}
),

ranked as (
    select *, row_number() over (order by {{ u('nh_term', 'employee_id') }}, employee_id) as leave_rank
    from hires
)

select
    r.employee_id,
    r.employee_ssn,
    'termination' as event_type,
    {{ sim_year() }} as simulation_year,
    CAST(r.effective_date + 1 + CAST(floor({{ u('nh_term_date', 'r.employee_id') }} * ({{ year_end() }} - r.effective_date)) AS INTEGER) AS DATE) as effective_date,
    'new hire termination' as event_details,
    r.compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    r.employee_deferral_rate,
    r.prev_employee_deferral_rate,
    r.employee_age,
    r.employee_tenure,
    r.level_id,
    r.age_band,
    r.tenure_band,
    CAST({{ var('workforce__new_hire_termination_rate') }} AS DOUBLE) as event_probability,
    'new_hire_termination' as event_category
from ranked r
cross join (select new_hire_terminations from {{ ref('int_workforce_needs') }} where simulation_year = {{ sim_year() }}) n
where r.leave_rank <= n.new_hire_terminations
