CREATE TABLE warehouses (
    id SMALLSERIAL PRIMARY KEY,
    code TEXT NOT NULL UNIQUE,
    city TEXT NOT NULL
);

CREATE TABLE stock_levels (
    warehouse_id SMALLINT NOT NULL REFERENCES warehouses (id),
    product_id BIGINT NOT NULL REFERENCES products (id) ON DELETE CASCADE,
    on_hand INTEGER NOT NULL DEFAULT 0,
    reserved INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (warehouse_id, product_id),
    CHECK (reserved <= on_hand)
);
