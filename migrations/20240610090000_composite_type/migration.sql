CREATE TYPE money_amount AS (currency CHAR(3), cents BIGINT);
CREATE TABLE refunds (
    id BIGSERIAL PRIMARY KEY,
    payment_id UUID NOT NULL REFERENCES payments (id),
    amount money_amount NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
