CREATE INDEX orders_user_id_idx ON orders (user_id);
CREATE INDEX orders_state_placed_at_idx ON orders (state, placed_at DESC) WHERE state <> 'cart';
CREATE INDEX order_lines_product_id_idx ON order_lines (product_id);
