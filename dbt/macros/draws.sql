{#
  u(stream, id, Y): deterministic uniform draw in [0, 1) (simulation.md section 7).
  (md5_number_upper(concat_ws('|', seed, stream, id, Y)) >> 11) / 2^53. In DuckDB 2.0 md5_number_upper is a macro
  over a 128-character bit string; the low 64 bits of md5_number are the same number (the first 8 bytes of the
  digest read little-endian, which Python reproduces with hashlib) at a quarter of the cost.
  Never random(), uuid() or hash().
#}
{% macro u(stream, id_expr, year_expr=none) -%}
(CAST(CAST(md5_number(concat_ws('|', '{{ var("simulation__random_seed") | int }}', '{{ stream }}', {{ id_expr }}, CAST({{ year_expr if year_expr is not none else sim_year() }} AS VARCHAR))) & CAST(18446744073709551615 AS UHUGEINT) AS UBIGINT) >> 11 AS DOUBLE) / 9007199254740992.0)
{%- endmacro %}
