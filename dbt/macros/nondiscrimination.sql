{#
  The ADP and ACP tests of a year and their correction (docs/simulation.md "Nondiscrimination tests"), in whole
  cents and integer ratios so every figure is exact: a ratio in units of 0.0001 (hundredths of a percent, rounded
  half up), a limit in units of 0.000001.

  nd_test(test, people, prior) emits the CTEs <test>_groups, <test>_excess and <test>_refunds for `people`
  (employee_id, is_hce, comp, amount: cents, comp > 0): the group counts and averages, the limit (from this year's
  non-HCE average, or `prior`: a relation with last year's when there is one), pass or fail; on a fail the
  leveling by percentage (the cap c at which the HCEs' capped ratios average the limit, or their own exact average
  when only its rounding failed; each HCE's excess = amount - c x comp, in cents half up) and the leveling by
  dollar amount (the total refunded from the highest
  amounts down to a common level, floored to cents, the cents left one each to the highest amounts).
#}
{% macro nd_ratio(amount, comp) -%}
((2 * {{ amount }} * 10000 + {{ comp }}) // (2 * {{ comp }}))
{%- endmacro %}

{% macro nd_test(test, people, prior) -%}
{{ test }}_ratios as (
    select *, {{ nd_ratio('amount', 'comp') }} as ratio from {{ people }}
),

{{ test }}_groups as (
    select
        *,
        greatest(125 * nhce_used, least(200 * nhce_used, 100 * nhce_used + 20000)) as limit_units,
        hce_count > 0 and nhce_count > 0 and not {{ safe_harbor() }} and 100 * hce_average > limit_units as failed
    from (
        select
            *,
            {{ "coalesce((select nhce_average_units from " ~ prior ~ " where test = '" ~ test | upper ~ "'), nhce_average)"
               if prior else "nhce_average" }} as nhce_used
        from (
            select
                count(*) filter (where is_hce) as hce_count,
                count(*) filter (where not is_hce) as nhce_count,
                CASE WHEN count(*) filter (where is_hce) > 0
                     THEN (2 * sum(ratio) filter (where is_hce) + count(*) filter (where is_hce))
                          // (2 * count(*) filter (where is_hce)) END as hce_average,
                CASE WHEN count(*) filter (where not is_hce) > 0
                     THEN (2 * sum(ratio) filter (where not is_hce) + count(*) filter (where not is_hce))
                          // (2 * count(*) filter (where not is_hce)) END as nhce_average
            from {{ test }}_ratios
        )
    )
),

{{ test }}_hces as (
    select
        r.employee_id, r.comp, r.amount, r.ratio, g.hce_count, g.limit_units,
        row_number() over (order by r.ratio desc, r.employee_id) as ratio_rank,
        coalesce(sum(r.ratio) over (order by r.ratio desc, r.employee_id
                                    rows between 1 following and unbounded following), 0) as ratios_below,
        lead(r.ratio) over (order by r.ratio desc, r.employee_id) as next_ratio,
        -- the capped ratios' sum to reach: n x the limit, or their own sum when only rounding failed the test
        least(g.hce_count * g.limit_units, 100 * sum(r.ratio) over ()) as target
    from {{ test }}_ratios r, {{ test }}_groups g
    where r.is_hce and g.failed
),

{{ test }}_cap as (
    -- capping the top k: c = (target - the ratios below them) / k, the first k where the next ratio <= c;
    -- c = cap_numerator / cap_denominator as a share of pay
    select target - 100 * ratios_below as cap_numerator, 100 * ratio_rank * 10000 as cap_denominator
    from {{ test }}_hces
    where next_ratio is null or 100 * ratio_rank * next_ratio <= target - 100 * ratios_below
    order by ratio_rank
    limit 1
),

{{ test }}_excess as (
    select coalesce(sum(CASE WHEN amount * cap_denominator > comp * cap_numerator
                             THEN (2 * (amount * cap_denominator - comp * cap_numerator) + cap_denominator)
                                  // (2 * cap_denominator) ELSE 0 END), 0) as excess
    from {{ test }}_hces, {{ test }}_cap
),

{{ test }}_by_amount as (
    select
        employee_id, amount, excess,
        row_number() over (order by amount desc, employee_id) as amount_rank,
        sum(amount) over (order by amount desc, employee_id rows unbounded preceding) as top_sum,
        lead(amount) over (order by amount desc, employee_id) as next_amount
    from {{ test }}_hces, {{ test }}_excess
    where excess > 0
),

{{ test }}_level as (
    -- refunding the top k down to m = (their sum - excess) / k, the first k where the next amount <= m
    select amount_rank as refunded, top_sum - excess as level_numerator
    from {{ test }}_by_amount
    where next_amount is null or amount_rank * next_amount <= top_sum - excess
    order by amount_rank
    limit 1
),

{{ test }}_floored as (
    select a.employee_id, a.amount, a.amount_rank, a.excess,
           (l.refunded * a.amount - l.level_numerator) // l.refunded as floored
    from {{ test }}_by_amount a, {{ test }}_level l
    where a.amount_rank <= l.refunded
),

{{ test }}_refunds as (
    select employee_id, amount,
           floored + CASE WHEN amount_rank <= excess - sum(floored) over () THEN 1 ELSE 0 END as refund
    from {{ test }}_floored
)
{%- endmacro %}

{% macro safe_harbor() -%}
{{ 'true' if var('employer_match__formula') in ('safe_harbor_basic', 'safe_harbor_enhanced', 'qaca') else 'false' }}
{%- endmacro %}
