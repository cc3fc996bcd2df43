{#
  Plan entry, auto-enrollment and opt-out (simulation.md 3.7, docs/simulation.md "Plan eligibility"), one flow
  decided from one date: the day each person employed in year Y enters the plan (plan_entry.sql).
  Entry: one `eligibility` event on that day per person not yet enrolled who enters during the year while
  employed (a person who leaves before it never enters; census participants who already defer are in the plan).
  Enrollment, 30 days after entry (for people who entered before this year: Jan 1 + 30 days), capped at Dec 31,
  only if not terminated before it and only for people hired on/after the cutoff: scope new_hires_only = the
  people who enter the plan this year (with the default entry rule: this year's hires); all_eligible_employees =
  also start-population people who entered before, are not enrolled and never opted out.
  Opt-out: once, within 30 days of the auto-enrollment (never after termination or Dec 31), iff
  u('optout') < age-segment rate x income-segment multiplier; event enrollment_change with deferral 0.
  Voluntary enrollment (docs/simulation.md "Voluntary enrollment"): people not enrolled, not auto-enrolled this
  year, never opted out or last opted out at least years_after_opt_out years before, whose window
  [max(entry, Jan 1), min(termination, Dec 31)] is not empty, enroll iff u('voluntary') < age-segment rate x
  income-segment multiplier, on the day u('voluntary_date') draws in the window, at the match-maximizing rate if
  u('voluntary_magnet') < match_magnet, else at the rate u('voluntary_rate') draws from the weights of
  config_voluntary_deferral_rates: an `enrollment` event of category voluntary_enrollment.
#}
{% set enabled = var('enrollment__auto_enrollment__enabled') %}
{% set scope = var('enrollment__auto_enrollment__scope') %}
{% set default_rate = var('enrollment__auto_enrollment__default_deferral_rate') %}
{% set voluntary = var('voluntary_enrollment__enabled') %}

with terminations as (
    select employee_id, effective_date as termination_date from {{ ref('int_termination_events') }}
    union all
    select employee_id, effective_date from {{ ref('int_new_hire_termination_events') }}
),

people as (
    -- everyone employed in the year, with the plan state they start it with and their plan entry date
    select *, {{ plan_entry_date('employee_birth_date', 'hire_date') }} as entry_date
    from (
        select employee_id, employee_ssn, employee_birth_date, employee_hire_date as hire_date,
               starting_compensation as salary, current_age, current_tenure, level_id, age_band, tenure_band,
               is_enrolled, opted_out_flag, opt_out_year
        from {{ ref('int_employee_compensation_by_year') }}
        union all
        select employee_id, employee_ssn, employee_birth_date, effective_date, compensation_amount, employee_age,
               employee_tenure, level_id, age_band, tenure_band, false, false, CAST(NULL AS INTEGER)
        from {{ ref('int_hiring_events') }}
    )
),

entrants as (
    select p.* from people p
    left join terminations t using (employee_id)
    where not p.is_enrolled
      and p.entry_date between {{ year_start() }} and coalesce(t.termination_date, {{ year_end() }})
),

candidates as (
    select employee_id, employee_ssn, hire_date, salary, current_age, current_tenure, level_id, age_band,
           tenure_band, entry_date
    from people
    where not is_enrolled and not opted_out_flag
      and entry_date <= {{ year_end() }}
      {% if scope != 'all_eligible_employees' %}and entry_date >= {{ year_start() }}{% endif %}
),

enrolled as (
    select
        c.*,
        t.termination_date,
        least(greatest(c.entry_date, {{ year_start() }}) + 30, {{ year_end() }}) as enrollment_date
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
    {{ segment_probabilities('enrollment__opt_out_rates__by_age', 'enrollment__opt_out_rates__by_income') }}
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
),

voluntary_windows as (
    select p.*, greatest(p.entry_date, {{ year_start() }}) as window_start,
           least(coalesce(t.termination_date, {{ year_end() }}), {{ year_end() }}) as window_end
    from people p
    left join terminations t using (employee_id)
    where {{ 'true' if voluntary else 'false' }}
      and not p.is_enrolled
      and (p.opt_out_year is null or p.opt_out_year <= {{ sim_year() }} - {{ var('voluntary_enrollment__years_after_opt_out') }})
      and p.employee_id not in (select employee_id from effective)
),

voluntary_chances as (
    {{ segment_probabilities('voluntary_enrollment__rate_by_age', 'voluntary_enrollment__income_multiplier') }}
),

rate_weights as (
    select age_segment, income_segment, deferral_rate, weight,
           sum(weight) over (partition by age_segment, income_segment order by deferral_rate) as upper,
           sum(weight) over (partition by age_segment, income_segment) as total
    from {{ ref('config_voluntary_deferral_rates') }}
),

volunteers as (
    select
        w.*,
        c.age_segment, c.income_segment,
        c.age_rate * c.income_multiplier as enrollment_probability,
        CAST(w.window_start + CAST(floor({{ u('voluntary_date', 'w.employee_id') }}
             * (w.window_end - w.window_start + 1)) AS INTEGER) AS DATE) as enrollment_date,
        CASE WHEN {{ u('voluntary_magnet', 'w.employee_id') }} < {{ var('voluntary_enrollment__match_magnet') }}
             THEN {{ rate(match_magnet('w.current_tenure')) }} END as magnet_rate,
        {{ u('voluntary_rate', 'w.employee_id') }} as rate_draw
    from voluntary_windows w
    join voluntary_chances c
      on c.age_segment = {{ age_segment('w.current_age') }}
     and c.income_segment = {{ income_segment('w.salary') }}
    where w.window_start <= w.window_end
      and {{ u('voluntary', 'w.employee_id') }} < c.age_rate * c.income_multiplier
),

voluntary_enrollments as (
    -- the drawn rate: the first of the segment's rates whose cumulative weight exceeds floor(u x total weight)
    select v.*, coalesce(v.magnet_rate, r.deferral_rate) as chosen_rate
    from volunteers v
    join rate_weights r
      on r.age_segment = v.age_segment and r.income_segment = v.income_segment
     and CAST(floor(v.rate_draw * r.total) AS INTEGER) between r.upper - r.weight and r.upper - 1
)



{#- the four kinds of event share every column but these -#}
{% set kinds = [
    {'type': 'eligibility', 'date': 'entry_date', 'details': "'plan entry'", 'rate': 0, 'previous': 0,
     'probability': 'NULL', 'category': 'plan_entry', 'source': 'entrants', 'where': ''},
    {'type': 'enrollment', 'date': 'enrollment_date', 'details': "'auto-enrollment at ' || " ~ default_rate,
     'rate': default_rate, 'previous': 0, 'probability': 'NULL', 'category': 'auto_enrollment',
     'source': 'with_opt_out', 'where': ''},
    {'type': 'enrollment_change', 'date': 'greatest(opt_out_date, enrollment_date)',
     'details': "'opt-out after auto-enrollment'", 'rate': 0, 'previous': default_rate,
     'probability': 'opt_out_probability', 'category': 'opt_out', 'source': 'with_opt_out',
     'where': 'where ' ~ u('optout', 'employee_id') ~ ' < opt_out_probability'},
    {'type': 'enrollment', 'date': 'enrollment_date', 'details': "'voluntary enrollment at ' || chosen_rate",
     'rate': 'chosen_rate', 'previous': 0, 'probability': 'enrollment_probability',
     'category': 'voluntary_enrollment', 'source': 'voluntary_enrollments', 'where': ''},
] %}
{% for kind in kinds %}
select
    employee_id, employee_ssn,
    '{{ kind.type }}' as event_type,
    {{ sim_year() }} as simulation_year,
    {{ kind.date }} as effective_date,
    {{ kind.details }} as event_details,
    salary as compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    {{ rate(kind.rate) }} as employee_deferral_rate,
    {{ rate(kind.previous) }} as prev_employee_deferral_rate,
    current_age as employee_age, current_tenure as employee_tenure, level_id, age_band, tenure_band,
    CAST({{ kind.probability }} AS DOUBLE) as event_probability,
    '{{ kind.category }}' as event_category
from {{ kind.source }}
{{ kind.where }}
{{ 'union all' if not loop.last }}
{% endfor %}
