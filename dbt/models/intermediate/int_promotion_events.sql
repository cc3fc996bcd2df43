{#
  Promotions on Feb 1 (simulation.md 3.3). Eligible: start population below the top level, tenure >= 1, age < 65,
  not terminated before Feb 1. Promoted iff u('promo') < base x tenure mult x age mult x max(0, 1 - dampener x
  (level - 1)); raise uniform in [raise_min, raise_max) from u('promo_raise'); salary rounded to cents.
#}
with population as (
    select * from {{ ref('int_employee_compensation_by_year') }}
),

early_leavers as (
    select employee_id from {{ ref('int_termination_events') }}
    where effective_date < make_date({{ sim_year() }}, 2, 1)
),

hazard as (
    select dimension, band, multiplier from {{ ref('config_promotion_hazard') }}
),

eligible as (
    select
        p.*,
        {{ guarded('a.multiplier * t.multiplier', 'a.multiplier is null or t.multiplier is null',
                   "'config_promotion_hazard has no multiplier for age band ' || p.age_band || ' / tenure band ' || p.tenure_band || ': add the row to the seed'") }}
            * {{ var('promotion__base_rate') }}
            * greatest(0, 1 - {{ var('promotion__level_dampener') }} * (p.level_id - 1)) as promotion_probability
    from population p
    left join hazard a on a.dimension = 'age' and a.band = p.age_band
    left join hazard t on t.dimension = 'tenure' and t.band = p.tenure_band
    where p.level_id < (select max(level_id) from {{ ref('config_job_levels') }})
      and p.current_tenure >= 1
      and p.current_age < 65
      and p.employee_id not in (select employee_id from early_leavers)
),

promoted as (
    select
        *,
        {{ var('promotion__raise_min') }}
            + {{ u('promo_raise', 'employee_id') }} * ({{ var('promotion__raise_max') }} - {{ var('promotion__raise_min') }}) as raise_pct
    from eligible
    where {{ u('promo', 'employee_id') }} < promotion_probability
)

select
    employee_id,
    employee_ssn,
    'promotion' as event_type,
    {{ sim_year() }} as simulation_year,
    make_date({{ sim_year() }}, 2, 1) as effective_date,
    'level ' || level_id || ' -> ' || (level_id + 1) || ', raise ' || round(raise_pct * 100, 2) || '%' as event_details,
    {{ money('starting_compensation * (1 + raise_pct)') }} as compensation_amount,
    starting_compensation as previous_compensation,
    deferral_rate as employee_deferral_rate,
    deferral_rate as prev_employee_deferral_rate,
    current_age as employee_age,
    current_tenure as employee_tenure,
    level_id + 1 as level_id,
    age_band,
    tenure_band,
    promotion_probability as event_probability,
    'promotion' as event_category
from promoted
