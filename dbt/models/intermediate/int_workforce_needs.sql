{{ config(materialized='year_slice') }}
{#
  Workforce needs of year Y (simulation.md 3.1), one row per year. Exact quotas in integer/decimal arithmetic
  (rates as DECIMAL, ROUND half away from zero) so Python's Decimal reproduces every figure.
#}
with start_population as (
    select count(*) as n from {{ ref('int_employee_compensation_by_year') }}
),

rates as (
    select
        CAST({{ var('simulation__target_growth_rate') }} AS DECIMAL(9, 6)) as g,
        CAST({{ var('workforce__total_termination_rate') }} AS DECIMAL(9, 6)) as t,
        CAST({{ var('workforce__new_hire_termination_rate') }} AS DECIMAL(9, 6)) as h
),

quotas as (
    select
        s.n,
        CAST(ROUND(s.n * r.g, 0) AS BIGINT) as g_count,
        CAST(ROUND(s.n * r.t, 0) AS BIGINT) as t_exp,
        CAST((1 - r.h) * 1000000 AS BIGINT) as keep_millionths,
        r.h
    from start_population s cross join rates r
),

hires as (
    select
        *,
        -- ROUND((G + T_exp) / (1 - h)) exactly: integer half-up division on millionths, never below zero
        greatest(0, (2 * (g_count + t_exp) * 1000000 + keep_millionths) // (2 * keep_millionths)) as h_count
    from quotas
)

select
    {{ sim_year() }} as simulation_year,
    {{ guarded('n', 'n = 0', "'no start population for year " ~ sim_year() ~ ": build the years before it first'") }} as start_headcount,
    g_count as target_net_growth,
    t_exp as experienced_terminations,
    h_count as total_hires,
    CAST(ROUND(h_count * h, 0) AS BIGINT) as new_hire_terminations,
    n - t_exp + h_count - CAST(ROUND(h_count * h, 0) AS BIGINT) as expected_end_headcount,
    n + g_count as target_end_headcount
from hires
