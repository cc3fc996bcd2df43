{#
  People responding to the plan (docs/simulation.md "The match's pull"). match_response: in the first simulated
  year, each participant deferring on Jan 1 (after that day's escalation) below the match-maximizing rate of the
  formula (match_magnet) moves up to it when u('match_up') < match_response.share_moving_up, each above it moves
  down to it when u('match_down') < share_moving_down, on the day u('match_date') draws from Jan 2 to Dec 31, if
  still employed that day: a deferral_change event.
#}
{% set active = var('match_response__enabled') and sim_year() | int == start_year() | int %}

with participants as (
    select
        s.employee_id, s.employee_ssn, s.starting_compensation, s.current_age, s.current_tenure, s.level_id,
        s.age_band, s.tenure_band,
        coalesce(e.employee_deferral_rate, s.deferral_rate) as rate_in_force,
        {{ rate(match_magnet('s.current_tenure')) }} as magnet,
        CAST({{ year_start() }} + 1 + CAST(floor({{ u('match_date', 's.employee_id') }}
             * ({{ days_in_year() }} - 1)) AS INTEGER) AS DATE) as change_date
    from {{ ref('int_employee_compensation_by_year') }} s
    left join {{ ref('int_deferral_escalation_events') }} e using (employee_id)
    where {{ 'true' if active else 'false' }} and s.is_enrolled and s.deferral_rate > 0
),

terminations as (
    select employee_id, effective_date as termination_date from {{ ref('int_termination_events') }}
)

select
    p.employee_id,
    p.employee_ssn,
    'deferral_change' as event_type,
    {{ sim_year() }} as simulation_year,
    p.change_date as effective_date,
    'to the match-maximizing rate ' || p.magnet as event_details,
    p.starting_compensation as compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    p.magnet as employee_deferral_rate,
    p.rate_in_force as prev_employee_deferral_rate,
    p.current_age as employee_age,
    p.current_tenure as employee_tenure,
    p.level_id,
    p.age_band,
    p.tenure_band,
    CAST(NULL AS DOUBLE) as event_probability,
    'match_response' as event_category
from participants p
left join terminations t using (employee_id)
where (t.termination_date is null or t.termination_date >= p.change_date)
  and ((p.rate_in_force < p.magnet and {{ u('match_up', 'p.employee_id') }} < {{ var('match_response__share_moving_up') }})
       or (p.rate_in_force > p.magnet
           and {{ u('match_down', 'p.employee_id') }} < {{ var('match_response__share_moving_down') }}))
