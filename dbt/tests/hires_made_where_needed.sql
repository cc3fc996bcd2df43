{{ config(tags=['critical']) }}
{# Every level and year that needed hires got exactly that many hire events. Returns the mismatches. #}
with needed as (
    select simulation_year, level_id, hires_needed from {{ ref('int_workforce_needs_by_level') }}
),

made as (
    select simulation_year, level_id, count(*) as hires_made
    from {{ ref('fct_yearly_events') }}
    where event_type = 'hire'
    group by all
)

select n.simulation_year, n.level_id, n.hires_needed, coalesce(m.hires_made, 0) as hires_made
from needed n
left join made m using (simulation_year, level_id)
where n.hires_needed <> coalesce(m.hires_made, 0)
