-- 0006_adjustment_events, both dialects: corporate-action factors per ex-date session.
-- Runs with search_path set to the project schema; names are unqualified on purpose.
--
-- Adjusting a range needs every later event, however old the range, so the events live
-- outside the bar tables and their retention. One row per (symbol, session_date) with a factor
-- other than 1.0; a re-fetched partition replaces its session's row (or removes it when the
-- vendor no longer reports an event), like the bars themselves.
CREATE TABLE adjustment_events (
    symbol        text             NOT NULL,
    session_date  date             NOT NULL,
    factor        double precision NOT NULL CHECK (factor > 0 AND factor <> 'Infinity'),
    source        text             NOT NULL,
    recorded_at   timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (symbol, session_date)
);
