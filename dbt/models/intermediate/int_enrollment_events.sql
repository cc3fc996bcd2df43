{#
  Auto-enrollment and opt-out (simulation.md 3.7).
  Enrollment: scope new_hires_only = this year's hires hired on/after the cutoff; all_eligible_employees = also
  start-population people not enrolled and never opted out, hired on/after the cutoff. Dated hire + 30 days (for
  people hired before this year: Jan 1 + 30 days), capped at Dec 31, and only if not terminated before it.
  Opt-out: once, within 30 days of the auto-enrollment (never after termination or Dec 31), iff
  u('optout') < age-segment rate x income-segment multiplier; event enrollment_change with deferral 0.
#}
{% set enabled = var('enrollment__auto_enrollment__enabled') %}
{% set scope = var('enrollment__auto_enrollment__scope') %}
{% set default_rate = var('enrollment__auto_enrollment__default_deferral_rate') %}

with terminations as (
    select employee_id, effective_date as termination_date from {{ ref('int_termination_events') }}
    union all
    select employee_id, effective_date from {{ ref('int_new_hire_termination_events') }}
),

hires as (
    select employee_id, employee_ssn, effective_date as hire_date, compensation_amount as salary,
           employee_age as current_age, employee_tenure as current_tenure, level_id, age_band, tenure_band
    from {{ ref('int_hiring_events') }}
),

incumbents as (
    select employee_id, employee_ssn, employee_hire_date as hire_date, starting_compensation as salary,
           current_age, current_tenure, level_id, age_band, tenure_band
    from {{ ref('int_employee_compensation_by_year') }}
    where not is_enrolled and not opted_out_flag
),

candidates as (
    select * from hires
    {% if scope == 'all_eligible_employees' %}
    union all
    select * from incumbents
    {% endif %}
),

enrolled as (
    select
        c.*,
        t.termination_date,
        least(greatest(c.hire_date, {{ year_start() }}) + 30, {{ year_end() }}) as enrollment_date
    from candidates c
    left join terminations t using (employee_id)
    where {{ 'true' if enabled else 'false' }}
      and c.hire_date >= DATE '{{ var("enrollment__auto_enrollment__hire_date_cutoff") }}'
),

effective as (
    select * from enrolled
    where termination_date is null or termination_date >= enrollment_date
),

opt_out_rates as (
    select *
    from (values
        ('young', {{ var('enrollment__opt_out_rates__by_age__young') }}),
        ('mid_career', {{ var('enrollment__opt_out_rates__by_age__mid_career') }}),
        ('mature', {{ var('enrollment__opt_out_rates__by_age__mature') }}),
        ('senior', {{ var('enrollment__opt_out_rates__by_age__senior') }})
    ) as a(age_segment, age_rate)
    cross join (values
        ('low', {{ var('enrollment__opt_out_rates__by_income__low') }}),
        ('moderate', {{ var('enrollment__opt_out_rates__by_income__moderate') }}),
        ('high', {{ var('enrollment__opt_out_rates__by_income__high') }}),
        ('executive', {{ var('enrollment__opt_out_rates__by_income__executive') }})
    ) as i(income_segment, income_multiplier)
),

with_opt_out as (
    select
        e.*,
        r.age_rate * r.income_multiplier as opt_out_probability,
        least(e.enrollment_date + 1 + CAST(floor({{ u('optout_date', 'e.employee_id') }} * 30) AS INTEGER),
              {{ year_end() }}, coalesce(e.termination_date, {{ year_end() }})) as opt_out_date
    from effective e
    join opt_out_rates r
      on r.age_segment = {{ age_segment('e.current_age') }}
     and r.income_segment = {{ income_segment('e.salary') }}
)

select
    employee_id, employee_ssn,
    'enrollment' as event_type,
    {{ sim_year() }} as simulation_year,
    enrollment_date as effective_date,
    'auto-enrollment at ' || {{ default_rate }} as event_details,
    salary as compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    {{ rate(default_rate) }} as employee_deferral_rate,
    {{ rate(0) }} as prev_employee_deferral_rate,
    current_age as employee_age, current_tenure as employee_tenure, level_id, age_band, tenure_band,
    CAST(NULL AS DOUBLE) as event_probability,
    'auto_enrollment' as event_category
from with_opt_out

union all

select
    employee_id, employee_ssn,
    'enrollment_change' as event_type,
    {{ sim_year() }} as simulation_year,
    greatest(opt_out_date, enrollment_date) as effective_date,
    'opt-out after auto-enrollment' as event_details,
    salary as compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    {{ rate(0) }} as employee_deferral_rate,
    {{ rate(default_rate) }} as prev_employee_deferral_rate,
    current_age, current_tenure, level_id, age_band, tenure_band,
    opt_out_probability as event_probability,
    'opt_out' as event_category
from with_opt_out
where {{ u('optout', 'employee_id') }} < opt_out_probability
