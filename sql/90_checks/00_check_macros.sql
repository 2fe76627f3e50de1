-- Data-quality checks (issue 6): predicates used by the DuckDB-engine expectations of expectations/*.json.
-- Loaded on the check connection only (not part of any asset's SQL).

-- NPI: 10 digits whose last digit is the Luhn check digit of the first nine prefixed with 80840
-- (CMS NPI standard; the prefix contributes a constant 24). Unrolled: no per-row lists.
CREATE OR REPLACE MACRO npi_luhn_digit2(d) AS (2 * d) // 10 + (2 * d) % 10;
CREATE OR REPLACE MACRO npi_is_valid(x) AS
    x IS NOT NULL AND regexp_full_match(x, '[0-9]{10}') AND (
        24
        + npi_luhn_digit2(ascii(substr(x, 1, 1)) - 48) + (ascii(substr(x, 2, 1)) - 48)
        + npi_luhn_digit2(ascii(substr(x, 3, 1)) - 48) + (ascii(substr(x, 4, 1)) - 48)
        + npi_luhn_digit2(ascii(substr(x, 5, 1)) - 48) + (ascii(substr(x, 6, 1)) - 48)
        + npi_luhn_digit2(ascii(substr(x, 7, 1)) - 48) + (ascii(substr(x, 8, 1)) - 48)
        + npi_luhn_digit2(ascii(substr(x, 9, 1)) - 48) + (ascii(substr(x, 10, 1)) - 48)
    ) % 10 = 0;

-- ICD-10-CM code without the dot (N6): letter, digit, then 1-5 alphanumerics (3-7 characters).
CREATE OR REPLACE MACRO icd10_is_valid(x) AS regexp_full_match(x, '[A-Z][0-9][0-9A-Z]{1,5}');
