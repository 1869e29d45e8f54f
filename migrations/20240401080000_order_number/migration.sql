CREATE SEQUENCE order_number_seq START 100000;
ALTER TABLE orders ADD COLUMN order_number BIGINT NOT NULL DEFAULT nextval('order_number_seq');
ALTER SEQUENCE order_number_seq OWNED BY orders.order_number;
CREATE UNIQUE INDEX orders_order_number_key ON orders (order_number);
