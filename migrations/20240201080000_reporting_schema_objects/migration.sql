CREATE TABLE reporting.daily_sales (
    day DATE PRIMARY KEY,
    orders INTEGER NOT NULL,
    revenue_cents BIGINT NOT NULL
);
GRANT USAGE ON SCHEMA reporting TO app_readonly;
GRANT SELECT ON ALL TABLES IN SCHEMA reporting TO app_readonly;
