CREATE EXTENSION IF NOT EXISTS btree_gist;

CREATE TABLE price_history (
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    valid_during TSTZRANGE NOT NULL,
    price_cents INTEGER NOT NULL,
    EXCLUDE USING gist (product_id WITH =, valid_during WITH &&)
);
