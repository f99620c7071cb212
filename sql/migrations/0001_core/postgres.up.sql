-- 0001_core, plain PostgreSQL: bars range-partitioned by month on ts.
-- Monthly partitions: a month of M1 bars for a hundred symbols is a few million rows, small
-- enough to VACUUM quickly and drop whole when retention passes.

CREATE TABLE ohlcv_bars (
    symbol       text             NOT NULL,
    timeframe    text             NOT NULL,
    ts           timestamptz      NOT NULL,
    session_date date             NOT NULL,
    open         double precision NOT NULL,
    high         double precision NOT NULL,
    low          double precision NOT NULL,
    close        double precision NOT NULL,
    volume       double precision NOT NULL,
    adj_factor   double precision NOT NULL DEFAULT 1,
    source       text             NOT NULL,
    ingested_at  timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, timeframe, ts)
) PARTITION BY RANGE (ts);
CREATE INDEX ohlcv_bars_session ON ohlcv_bars (symbol, session_date);

-- Creates the monthly partitions covering [lo, hi). SECURITY DEFINER so that the writer role
-- (DML only) can reach an older month during a backfill without holding DDL rights itself.
CREATE FUNCTION ensure_bar_partitions(lo timestamptz, hi timestamptz) RETURNS integer
LANGUAGE plpgsql SECURITY DEFINER AS $fn$
DECLARE
    month_start timestamptz := date_trunc('month', lo AT TIME ZONE 'UTC') AT TIME ZONE 'UTC';
    created     integer := 0;
    part_name   text;
    schema_name text := (SELECT n.nspname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE p.oid = 'ensure_bar_partitions(timestamptz, timestamptz)'::regprocedure);
BEGIN
    IF hi - lo > interval '100 years' THEN
        RAISE EXCEPTION 'refusing to create partitions over % (from % to %)', hi - lo, lo, hi;
    END IF;
    WHILE month_start < hi LOOP
        part_name := 'ohlcv_bars_p' || to_char(month_start AT TIME ZONE 'UTC', 'YYYYMM');
        IF to_regclass(format('%I.%I', schema_name, part_name)) IS NULL THEN
            EXECUTE format(
                'CREATE TABLE %I.%I PARTITION OF %I.ohlcv_bars FOR VALUES FROM (%L) TO (%L)',
                schema_name, part_name, schema_name,
                month_start, month_start + interval '1 month');
            created := created + 1;
        END IF;
        month_start := month_start + interval '1 month';
    END LOOP;
    RETURN created;
END;
$fn$;

-- Drops whole monthly partitions that end before `older_than`: retention without DELETE.
CREATE FUNCTION drop_bar_partitions_before(older_than timestamptz) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
    r       record;
    dropped integer := 0;
BEGIN
    FOR r IN
        SELECT c.oid::regclass AS part,
               (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \(''([^'']+)''\)'))[1]::timestamptz AS upper_bound
        FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'ohlcv_bars'::regclass
    LOOP
        IF r.upper_bound <= older_than THEN
            EXECUTE format('DROP TABLE %s', r.part);
            dropped := dropped + 1;
        END IF;
    END LOOP;
    RETURN dropped;
END;
$fn$;

DO $do$
BEGIN
    EXECUTE format('ALTER FUNCTION ensure_bar_partitions(timestamptz, timestamptz) SET search_path = %I, pg_temp',
                   current_schema());
END;
$do$;

-- Partitions ahead: the previous month to three months from now.
SELECT ensure_bar_partitions(now() - interval '1 month', now() + interval '3 months');
