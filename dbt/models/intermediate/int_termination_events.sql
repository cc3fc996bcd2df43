{#
  Experienced terminations (simulation.md 3.2): exactly T_exp of the start population leave. Weighted sampling
  without replacement: weight w = base x age multiplier x tenure multiplier; the T_exp smallest -ln(u)/w leave
  (ties by employee_id). A band without a multiplier fails the model instead of silently weighting zero.
#}
with population as (
    select * from {{ ref('int_employee_compensation_by_year') }}
),

hazard as (
    select dimension, band, multiplier from {{ ref('config_termination_hazard') }}
),

weighted as (
    select
        p.*,
        {{ guarded('b.multiplier * a.multiplier * t.multiplier',
                   'b.multiplier is null or a.multiplier is null or t.multiplier is null',
                   "'config_termination_hazard has no multiplier for age band ' || p.age_band || ' / tenure band ' || p.tenure_band || ': add the row to the seed'") }} as hazard_weight,
        {{ u('term', 'p.employee_id') }} as draw
    from population p
    left join hazard b on b.dimension = 'base'
    left join hazard a on a.dimension = 'age' and a.band = p.age_band
    left join hazard t on t.dimension = 'tenure' and t.band = p.tenure_band
),

ranked as (
    select *, row_number() over (order by -ln(draw) / hazard_weight, employee_id) as leave_rank
    from weighted
)

select
    r.employee_id,
    r.employee_ssn,
    'termination' as event_type,
    {{ sim_year() }} as simulation_year,
    {{ date_in_year(u('term_date', 'r.employee_id')) }} as effective_date,
    'experienced termination, hazard weight ' || round(r.hazard_weight, 4) as event_details,
    r.starting_compensation as compensation_amount,
    CAST(NULL AS DECIMAL(14, 2)) as previous_compensation,
    r.deferral_rate as employee_deferral_rate,
    r.deferral_rate as prev_employee_deferral_rate,
    r.current_age as employee_age,
    r.current_tenure as employee_tenure,
    r.level_id,
    r.age_band,
    r.tenure_band,
    r.hazard_weight as event_probability,
    'experienced_termination' as event_category
from ranked r
cross join (select experienced_terminations from {{ ref('int_workforce_needs') }} where simulation_year = {{ sim_year() }}) n
where r.leave_rank <= n.experienced_terminations
