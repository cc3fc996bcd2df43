{#
  Hires of year Y (simulation.md 3.5): H people numbered s = 1..H level by level, id NH_<Y>_<s:06d>, SSN in the
  9xx area the census never uses, hire date spread over the year, age from a new-hire age mix (22..55), pay =
  level's average start salary (band midpoint without incumbents) x salary_adjustment x (0.90 + 0.18 u), kept
  within 0.5 x the band's minimum .. 2 x its maximum (only extreme configs reach those edges: a salary_adjustment
  near 3, or years of 50 % raises lifting the level averages).
#}
with levels as (
    select * from {{ ref('int_workforce_needs_by_level') }}
    where simulation_year = {{ sim_year() }} and hires_needed > 0
),

slots as (
    select l.level_id, l.hire_pay_base, l.min_compensation, l.max_compensation, slot
    from levels l, unnest(range(l.hires_needed)) as r(slot)
),

numbered as (
    select
        level_id,
        hire_pay_base,
        min_compensation,
        max_compensation,
        row_number() over (order by level_id, slot) as hire_number
    from slots
),

identified as (
    select
        *,
        'NH_{{ sim_year() }}_' || lpad(CAST(hire_number AS VARCHAR), 6, '0') as employee_id
    from numbered
),

drawn as (
    select
        *,
        {{ date_in_year(u('hire_date', 'employee_id')) }} as hire_date,
        {{ u('hire_age', 'employee_id') }} as age_draw,
        {{ u('hire_birth', 'employee_id') }} as birth_draw,
        {{ u('hire_pay', 'employee_id') }} as pay_draw
    from identified
),

aged as (
    select
        *,
        -- new-hire age mix: 25 % aged 22-25, 35 % 26-35, 25 % 36-45, 15 % 46-55
        CAST(CASE
            WHEN age_draw < 0.25 THEN 22 + floor(age_draw / 0.25 * 4)
            WHEN age_draw < 0.60 THEN 26 + floor((age_draw - 0.25) / 0.35 * 10)
            WHEN age_draw < 0.85 THEN 36 + floor((age_draw - 0.60) / 0.25 * 10)
            ELSE 46 + floor((age_draw - 0.85) / 0.15 * 10)
        END AS INTEGER) as hire_age
    from drawn
)

select
    employee_id,
    '9' || lpad(CAST({{ sim_year() }} % 100 AS VARCHAR), 2, '0') || '-'
        || substr(lpad(CAST(hire_number AS VARCHAR), 6, '0'), 1, 2) || '-'
        || substr(lpad(CAST(hire_number AS VARCHAR), 6, '0'), 3, 4) as employee_ssn,
    'hire' as event_type,
    {{ sim_year() }} as simulation_year,
    hire_date as effective_date,
    'new hire at level ' || level_id as event_details,
    least(greatest(
        {{ money('hire_pay_base * CAST(' ~ var('new_hire__salary_adjustment') ~ ' AS DECIMAL(9, 6)) * (0.90 + 0.18 * pay_draw)') }},
        {{ money('0.5 * min_compensation') }}), {{ money('2 * max_compensation') }}) as compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    CAST(0 AS DECIMAL(7, 4)) as employee_deferral_rate,
    CAST(0 AS DECIMAL(7, 4)) as prev_employee_deferral_rate,
    hire_age as employee_age,
    0 as employee_tenure,
    level_id,
    {{ age_band('hire_age') }} as age_band,
    {{ tenure_band('0') }} as tenure_band,
    CAST(NULL AS DOUBLE) as event_probability,
    'hire' as event_category,
    CAST(hire_date - to_years(hire_age) AS DATE) - CAST(floor(birth_draw * 365) AS INTEGER) as employee_birth_date
from aged
