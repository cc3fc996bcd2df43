{#
  The employer match of a person-year before 415(c) (docs/simulation.md "Match formulas"), as SQL over the deferral
  made and plan compensation. Every formula but single_tier is a tier list: each tier matches its rate of the
  deferral between the previous tier's up_to and its own (shares of pay); service_tiered picks the band of the
  person's years of service. max_match_amount, when set, caps the result unless capped is false (a pay period's
  match: the cap applies to the year's sum, docs/simulation.md "Match per pay period and true-up").
#}
{% macro match_formula(deferral, pay, years_of_service, capped=true) -%}
{%- set formula = var('employer_match__formula') -%}
{%- set fixed = {
    'safe_harbor_basic': [{'rate': 1.0, 'up_to': 0.03}, {'rate': 0.5, 'up_to': 0.05}],
    'safe_harbor_enhanced': [{'rate': 1.0, 'up_to': 0.04}],
    'qaca': [{'rate': 1.0, 'up_to': 0.01}, {'rate': 0.5, 'up_to': 0.06}],
} -%}
{%- if formula == 'single_tier' -%}
  {%- set rate = var('employer_match__rate') -%}
  {%- set match = 'least(' ~ deferral ~ ' * ' ~ rate ~ ', ' ~ pay ~ ' * ' ~ var('employer_match__max_match_percentage') ~ ' * ' ~ rate ~ ')' -%}
{%- elif formula == 'service_tiered' -%}
  {%- set match -%}
    CASE {% for band in var('employer_match__service_tiers') | reverse -%}
      WHEN {{ years_of_service }} >= {{ band['min_years'] }} THEN {{ tier_sum(deferral, pay, band['tiers']) }}
    {% endfor -%} END
  {%- endset -%}
{%- else -%}
  {%- set match = tier_sum(deferral, pay, fixed.get(formula) or var('employer_match__tiers')) -%}
{%- endif -%}
{%- set cap = var('employer_match__max_match_amount') -%}
{{ match if cap is none or not capped else 'least(' ~ match ~ ', ' ~ cap ~ ')' }}
{%- endmacro %}

{% macro tier_sum(deferral, pay, tiers) -%}
({%- for tier in tiers %}{{ ' + ' if not loop.first }}{{ tier['rate'] }} * greatest(0, least({{ deferral }}, {{ pay }} * {{ tier['up_to'] }}) - {{ pay }} * {{ loop.previtem['up_to'] if not loop.first else 0 }}){% endfor -%})
{%- endmacro %}

{#
  The match-maximizing deferral rate of the formula (docs/simulation.md "The match's pull"): the share of pay above
  which the next dollar deferred earns no more match, the highest up_to of a tier with a rate above 0 (single_tier:
  max_match_percentage; service_tiered: of the person's band). A max_match_amount cap is not taken into account.
#}
{% macro match_magnet(years_of_service) -%}
{%- set formula = var('employer_match__formula') -%}
{%- set fixed = {'safe_harbor_basic': 0.05, 'safe_harbor_enhanced': 0.04, 'qaca': 0.06} -%}
{%- if formula == 'single_tier' -%}
  {{ var('employer_match__max_match_percentage') }}
{%- elif formula in fixed -%}
  {{ fixed[formula] }}
{%- elif formula == 'service_tiered' -%}
  CASE {% for band in var('employer_match__service_tiers') | reverse -%}
    WHEN {{ years_of_service }} >= {{ band['min_years'] }} THEN {{ magnet_of(band['tiers']) }}
  {% endfor -%} END
{%- else -%}
  {{ magnet_of(var('employer_match__tiers')) }}
{%- endif -%}
{%- endmacro %}

{% macro magnet_of(tiers) -%}
{{ tiers | selectattr('rate', 'gt', 0) | map(attribute='up_to') | max }}
{%- endmacro %}
