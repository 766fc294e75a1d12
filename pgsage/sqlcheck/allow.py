"""What a caller-supplied query may name: allow-lists of built-in functions, types, operators.

These are allow-lists, not deny-lists: a name that is not here is refused, so a function
added to PostgreSQL (or installed by an extension, or written by a user) is refused until
someone decides it is safe. A function is listed only when it is built into PostgreSQL, is
not volatile (it has no side effect and gives the same answer within a statement), and
exposes neither data outside the query's own tables nor a setting, a file, the session or
the server (so no `current_setting`, `pg_read_file`, `query_to_xml`, `version`, `pg_*`).

Names are matched without a schema or with `pg_catalog.` only. Which overload PostgreSQL
picks is a question for the target's catalog (a user can add `public.lower(my_type)`), so the
optimizer checks that on the target; this list is the parse-level half.
"""

from __future__ import annotations

_MATH = """
abs ceil ceiling floor round trunc sign sqrt cbrt power pow exp ln log log10 mod div pi
degrees radians sin cos tan asin acos atan atan2 sind cosd tand asind acosd atand atan2d cot
cotd sinh cosh tanh asinh acosh atanh width_bucket gcd lcm factorial scale min_scale
trim_scale
"""
_STRINGS = """
lower upper initcap length char_length character_length octet_length bit_length substr
substring position strpos left right lpad rpad ltrim rtrim btrim trim replace translate
concat concat_ws split_part reverse repeat starts_with md5 sha224 sha256 sha384 sha512
encode decode ascii chr format regexp_replace regexp_match regexp_matches
regexp_split_to_array regexp_split_to_table regexp_like regexp_count regexp_instr
regexp_substr string_to_array string_to_table array_to_string to_hex normalize is_normalized
quote_ident quote_literal quote_nullable overlay similar_to_escape get_byte get_bit
like_escape
"""
_TIME = """
now transaction_timestamp statement_timestamp date_trunc date_part extract date_bin age
make_date make_time make_timestamp make_timestamptz make_interval to_char to_date
to_timestamp to_number justify_days justify_hours justify_interval isfinite timezone
date_add date_subtract overlaps
"""
_AGGREGATES = """
count sum avg min max bool_and bool_or every array_agg string_agg json_agg jsonb_agg
json_object_agg jsonb_object_agg stddev stddev_pop stddev_samp variance var_pop var_samp
corr covar_pop covar_samp regr_avgx regr_avgy regr_count regr_intercept regr_r2 regr_slope
regr_sxx regr_sxy regr_syy percentile_cont percentile_disc mode bit_and bit_or bit_xor
any_value range_agg range_intersect_agg
"""
_WINDOWS = """
row_number rank dense_rank percent_rank cume_dist ntile lag lead first_value last_value
nth_value
"""
_ARRAYS = """
array_length array_upper array_lower cardinality array_position array_positions
array_append array_prepend array_cat array_remove array_replace unnest array_dims
array_ndims trim_array array_fill generate_series generate_subscripts
"""
_JSON = """
json_build_object jsonb_build_object json_build_array jsonb_build_array to_json to_jsonb
json_extract_path jsonb_extract_path json_extract_path_text jsonb_extract_path_text
json_array_length jsonb_array_length json_typeof jsonb_typeof json_array_elements
jsonb_array_elements json_array_elements_text jsonb_array_elements_text json_each
jsonb_each json_each_text jsonb_each_text json_object_keys jsonb_object_keys jsonb_set
jsonb_set_lax jsonb_insert jsonb_strip_nulls json_strip_nulls jsonb_path_exists
jsonb_path_match jsonb_path_query jsonb_path_query_array jsonb_path_query_first
jsonb_pretty row_to_json array_to_json json_object jsonb_object
"""
_RANGES_AND_MISC = """
isempty lower_inc upper_inc lower_inf upper_inf range_merge int4range int8range numrange
daterange tsrange tstzrange multirange to_tsvector to_tsquery plainto_tsquery
phraseto_tsquery websearch_to_tsquery ts_rank ts_rank_cd ts_headline setweight
tsvector_to_array array_to_tsvector num_nulls num_nonnulls host network masklen family
broadcast netmask hostmask abbrev inet_same_family inet_merge set_masklen
"""

FUNCTIONS = frozenset(
    " ".join(
        (_MATH, _STRINGS, _TIME, _AGGREGATES, _WINDOWS, _ARRAYS, _JSON, _RANGES_AND_MISC)
    ).split()
)
"""Built-in, non-volatile functions that read nothing but their arguments."""

TYPES = frozenset(
    """
    int2 int4 int8 smallint integer int bigint numeric decimal float4 float8 real float
    bool boolean text varchar bpchar char character name bytea date time timetz timestamp
    timestamptz interval uuid json jsonb jsonpath inet cidr macaddr macaddr8 money bit varbit
    tsvector tsquery int4range int8range numrange daterange tsrange tstzrange int4multirange
    int8multirange nummultirange datemultirange tsmultirange tstzmultirange point line lseg
    box path polygon circle oid
    """.split()
)
"""Built-in types a query may cast to. `reg*` types are absent: casting text to them reads
the catalog (`'secrets'::regclass`), and user types may run user code on input."""

OPERATORS = frozenset(
    """
    = <> != < > <= >= + - * / % ^ || ~~ ~~* !~~ !~~* ~ ~* !~ !~* @> <@ && -> ->> #> #>> ? ?|
    ?& @@ @@@ @? #- |/ ||/ @ & | # << >> <<= >>= -|- &< &> <-> ~= <^ >^ ?# ?- ?-| ?||
    """.split()
)
"""Operator symbols of PostgreSQL's built-in operators (user types may overload them; the
optimizer checks the resolved operator on the target's catalog)."""

CATALOG_SCHEMAS = frozenset({"pg_catalog", "information_schema", "pg_toast"})
