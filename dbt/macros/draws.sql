{#
  u(stream, id, Y): deterministic uniform draw in [0, 1) (simulation.md section 7).
  (md5_number_upper(concat_ws('|', seed, stream, id, Y)) >> 11) / 2^53. md5_number_upper is the first 8 bytes
  of the md5 digest read little-endian, so Python reproduces it with hashlib. Never random(), uuid() or hash().
#}
{% macro u(stream, id_expr, year_expr=none) -%}
(CAST(md5_number_upper(concat_ws('|', '{{ var("simulation__random_seed") | int }}', '{{ stream }}', {{ id_expr }}, CAST({{ year_expr if year_expr is not none else sim_year() }} AS VARCHAR))) >> 11 AS DOUBLE) / 9007199254740992.0)
{%- endmacro %}
