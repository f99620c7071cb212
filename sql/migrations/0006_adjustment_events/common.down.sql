DROP TABLE IF EXISTS adjustment_events;
