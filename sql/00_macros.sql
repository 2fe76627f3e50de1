-- Shared parsing macros for every CCLF / RIF reader. One home for rule N6.
-- N6: '~' and blanks mean null.
CREATE OR REPLACE MACRO cclf_text(x) AS nullif(nullif(trim(x), ''), '~');

-- N6: a date field as text -> DATE; CCLF writes YYYY-MM-DD, RIF writes DD-Mon-YYYY (any case).
-- Sentinel dates 1000-01-01 and 9999-12-31 mean null. Unparseable text also gives NULL here;
-- cclf_date_is_bad() tells the two apart so the row can be quarantined.
CREATE OR REPLACE MACRO cclf_date_parsed(x) AS
    CAST(try_strptime(cclf_text(x), ['%Y-%m-%d', '%d-%b-%Y']) AS DATE);
CREATE OR REPLACE MACRO cclf_date(x) AS
    CASE WHEN cclf_date_parsed(x) IN (DATE '1000-01-01', DATE '9999-12-31') THEN NULL
         ELSE cclf_date_parsed(x) END;
-- A present date that does not parse, or lies outside 1900..2100 (sentinels excepted): quarantine.
CREATE OR REPLACE MACRO cclf_date_is_bad(x) AS
    cclf_text(x) IS NOT NULL AND (
        cclf_date_parsed(x) IS NULL
        OR (cclf_date_parsed(x) NOT IN (DATE '1000-01-01', DATE '9999-12-31')
            AND NOT cclf_date_parsed(x) BETWEEN DATE '1900-01-01' AND DATE '2100-12-31'));

-- Amounts: zero-padded signed decimals ('00000000098.21', '-0000012.00'); money stays exact.
CREATE OR REPLACE MACRO cclf_amount(x) AS TRY_CAST(cclf_text(x) AS DECIMAL(18, 2));
CREATE OR REPLACE MACRO cclf_amount_is_bad(x) AS cclf_text(x) IS NOT NULL AND cclf_amount(x) IS NULL;

-- N6: diagnosis codes without the dot, upper case.
CREATE OR REPLACE MACRO dx_code(x) AS nullif(upper(replace(cclf_text(x), '.', '')), '');

-- The row as delivered, for the quarantine: readers carry it as a list of fields (cheap) and it
-- becomes text only for quarantined rows.
CREATE OR REPLACE MACRO raw_text(fields, delimiter) AS
    array_to_string(list_transform(fields, lambda x: coalesce(x, '')), delimiter);

-- Zero-padded numeric identifiers compare as numbers ('0000000001005' = 1005).
CREATE OR REPLACE MACRO cclf_int(x) AS TRY_CAST(cclf_text(x) AS HUGEINT);

-- N2 [DEFAULT ties]: one home for "the newest delivery wins". Copies of one delivered row compete in
-- this order: newest delivery date first (undated deliveries last), then file name, then input file,
-- then row, all descending. Use as
--   row_number() OVER (PARTITION BY <row key> ORDER BY delivery_recency(delivery_date, delivery_file,
--                      source_file_id, source_row) DESC) = 1   -- the copy that is kept
CREATE OR REPLACE MACRO delivery_recency(delivery_date, delivery_file, source_file_id, source_row) AS
    {'delivered': coalesce(delivery_date, DATE '0001-01-01'), 'file': delivery_file,
     'file_id': source_file_id, 'row': source_row};
