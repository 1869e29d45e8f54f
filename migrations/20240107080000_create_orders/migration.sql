BEGIN;

CREATE TYPE order_state AS ENUM ('cart', 'placed', 'paid', 'shipped', 'cancelled');

CREATE TABLE orders (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id),
    state order_state NOT NULL DEFAULT 'cart',
    placed_at TIMESTAMPTZ,
    total_cents BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE order_lines (
    order_id BIGINT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    line_no INTEGER NOT NULL,
    product_id BIGINT NOT NULL REFERENCES products (id),
    quantity INTEGER NOT NULL CHECK (quantity > 0),
    unit_price_cents INTEGER NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

COMMIT;
