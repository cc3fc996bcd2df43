{{ config(materialized='year_slice') }}
{#
  Hires of year Y split over job levels by the seed's hire weights (renormalised over the levels in the seed),
  with largest-remainder apportionment in integers so the level counts add up to exactly H.
  Also carries each level's hire pay base: the average starting salary of its incumbents, or the band midpoint.
#}
with needs as (
    select total_hires from {{ ref('int_workforce_needs') }} where simulation_year = {{ sim_year() }}
),

levels as (
    select
        level_id,
        min_compensation,
        max_compensation,
        CAST(round(hire_weight * 1000000) AS BIGINT) as weight
    from {{ ref('config_job_levels') }}
),

shares as (
    select
        l.*,
        n.total_hires,
        (n.total_hires * l.weight) // sum(l.weight) over () as base_hires,
        (n.total_hires * l.weight) % sum(l.weight) over () as remainder
    from levels l cross join needs n
),

ranked as (
    select
        *,
        total_hires - sum(base_hires) over () as leftover,
        row_number() over (order by remainder desc, level_id) as remainder_rank
    from shares
),

incumbents as (
    select level_id, avg(starting_compensation) as average_salary, count(*) as incumbent_count
    from {{ ref('int_employee_compensation_by_year') }}
    group by level_id
)

select
    {{ sim_year() }} as simulation_year,
    r.level_id,
    CAST(r.base_hires + CASE WHEN r.remainder_rank <= r.leftover THEN 1 ELSE 0 END AS BIGINT) as hires_needed,
    coalesce(i.incumbent_count, 0) as incumbent_count,
    {{ money('coalesce(i.average_salary, (r.min_compensation + r.max_compensation) / 2)') }} as hire_pay_base,
    r.min_compensation,
    r.max_compensation
from ranked r
left join incumbents i using (level_id)
order by r.level_id
