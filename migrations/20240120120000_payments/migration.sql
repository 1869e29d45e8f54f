CREATE TYPE payment_method AS ENUM ('card', 'bank_transfer');

CREATE TABLE payments (
    id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id BIGINT NOT NULL REFERENCES orders (id),
    method payment_method NOT NULL,
    amount_cents BIGINT NOT NULL,
    captured_at TIMESTAMPTZ,
    provider_ref TEXT
);
CREATE INDEX payments_order_id_idx ON payments (order_id);
