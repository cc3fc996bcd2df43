{{ config(materialized='year_slice') }}
{#
  The ADP and ACP tests of year Y and their correction (docs/simulation.md "Nondiscrimination tests"; the
  arithmetic in nondiscrimination.sql): one row per test. Eligible: employed in Y with plan compensation and
  enrolled at some time or past the plan entry date by the end of their employment in Y. ADP on deferrals without
  their catch-up part (up to the 402(g) base limit); the refunds of a failed ADP forfeit the match the refunded
  deferrals earned (the match formula on the deferral kept); ACP on the match that is left. nondiscrimination.
  testing_method prior_year compares with last year's non-HCE average (the first year: this year's). A failed
  test is a result: the run goes on.
#}
{% set previous = source('simulation_state', 'fct_nondiscrimination') %}
{% set prior_year = var('nondiscrimination__testing_method') == 'prior_year'
                    and sim_year() | int > start_year() | int %}

with irs as (
    select base_limit from {{ ref('config_irs_limits') }} where limit_year = {{ sim_year() }}
),

{% if prior_year %}
prior as (
    select test, CAST(current_nhce_average * 10000 AS HUGEINT) as nhce_average_units from {{ previous }}
    where simulation_year = {{ sim_year() }} - 1
),
{% endif %}

people as (
    select
        s.employee_id,
        s.is_hce,
        s.current_tenure,
        CAST(s.plan_compensation * 100 AS HUGEINT) as comp,
        CAST(least(s.employee_contribution, irs.base_limit) * 100 AS HUGEINT) as deferral,
        CAST(s.employer_match_amount * 100 AS HUGEINT) as match
    from {{ ref('fct_workforce_snapshot') }} s, irs
    where s.simulation_year = {{ sim_year() }}
      and s.plan_compensation > 0
      and (s.enrollment_date is not null
           or {{ plan_entry_date('s.employee_birth_date', 's.employee_hire_date') }}
              <= coalesce(s.termination_date, {{ year_end() }}))
),

adp_people as (
    select employee_id, is_hce, comp, deferral as amount from people
),

{{ nd_test('adp', 'adp_people', 'prior' if prior_year else none) }},

forfeited as (
    -- the match the refunded deferrals earned: the match less the formula on the deferral kept, never below 0
    select
        r.employee_id, r.refund,
        p.match - least(p.match, CAST(100 * {{ money(match_formula('CAST(p.deferral - r.refund AS DECIMAL(18, 0)) * 0.01',
                                                                   'CAST(p.comp AS DECIMAL(18, 0)) * 0.01',
                                                                   'p.current_tenure')) }} AS HUGEINT))
            as forfeited_match
    from adp_refunds r
    join people p using (employee_id)
),

acp_people as (
    select p.employee_id, p.is_hce, p.comp, p.match - coalesce(f.forfeited_match, 0) as amount
    from people p
    left join forfeited f using (employee_id)
),

{{ nd_test('acp', 'acp_people', 'prior' if prior_year else none) }},

results as (
{% for test in ['adp', 'acp'] %}
    select
        '{{ test | upper }}' as test,
        g.*,
        CASE WHEN g.hce_count = 0 THEN 'no HCEs' WHEN g.nhce_count = 0 THEN 'no non-HCEs'
             WHEN {{ safe_harbor() }} THEN 'safe harbor' END as exempt_reason,
        (select coalesce(sum(refund), 0) from {{ test }}_refunds) as corrective_cents,
        {{ '(select coalesce(sum(forfeited_match), 0) from forfeited)' if test == 'adp' else '0' }} as forfeited_cents,
        (select list(struct_pack(employee_id := employee_id,
                                 amount := CAST(CAST(refund AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(14, 2)))
                     order by employee_id)
         from {{ test }}_refunds) as corrections
    from {{ test }}_groups g
    {{ 'union all' if not loop.last }}
{% endfor %}
)

select
    CAST({{ sim_year() }} AS INTEGER) as simulation_year,
    test,
    '{{ var('nondiscrimination__testing_method') }}' as testing_method,
    CAST(hce_count AS INTEGER) as hce_count,
    CAST(nhce_count AS INTEGER) as nhce_count,
    CAST(CAST(hce_average AS DECIMAL(18, 0)) * 0.0001 AS DECIMAL(7, 4)) as hce_average,
    CAST(CAST(nhce_used AS DECIMAL(18, 0)) * 0.0001 AS DECIMAL(7, 4)) as nhce_average,
    CAST(CAST(nhce_average AS DECIMAL(18, 0)) * 0.0001 AS DECIMAL(7, 4)) as current_nhce_average,
    CAST(CAST(limit_units AS DECIMAL(18, 0)) * 0.000001 AS DECIMAL(9, 6)) as test_limit,
    exempt_reason is not null or not failed as passed,
    CAST(CAST(limit_units - 100 * hce_average AS DECIMAL(18, 0)) * 0.000001 AS DECIMAL(9, 6)) as margin,
    exempt_reason,
    CAST(CAST(corrective_cents AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(14, 2)) as corrective_amount,
    CAST(CAST(forfeited_cents AS DECIMAL(18, 0)) * 0.01 AS DECIMAL(14, 2)) as forfeited_match,
    coalesce(corrections, []) as corrections
from results
