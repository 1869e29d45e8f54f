CREATE VIEW available_stock AS
SELECT product_id, SUM(on_hand - reserved) AS available
FROM stock_levels GROUP BY product_id;
