CREATE TABLE addresses (
    id BIGSERIAL PRIMARY KEY,
    user_id BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    line1 TEXT NOT NULL,
    line2 TEXT,
    city TEXT NOT NULL,
    postcode TEXT NOT NULL,
    country CHAR(2) NOT NULL DEFAULT 'GB'
);
ALTER TABLE orders ADD COLUMN shipping_address_id BIGINT REFERENCES addresses (id);
