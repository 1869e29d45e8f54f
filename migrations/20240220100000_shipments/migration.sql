CREATE TABLE shipments (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    carrier TEXT NOT NULL,
    tracking_number TEXT,
    shipped_at TIMESTAMPTZ,
    delivered_at TIMESTAMPTZ,
    CHECK (delivered_at IS NULL OR shipped_at IS NOT NULL)
);
CREATE INDEX shipments_order_id_idx ON shipments (order_id);
