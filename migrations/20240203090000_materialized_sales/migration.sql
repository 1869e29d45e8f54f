CREATE MATERIALIZED VIEW reporting.product_sales AS
SELECT p.id AS product_id, p.sku, SUM(l.quantity) AS units, SUM(l.quantity * l.unit_price_cents) AS revenue_cents
FROM products p
JOIN order_lines l ON l.product_id = p.id
JOIN orders o ON o.id = l.order_id AND o.state IN ('paid', 'shipped')
GROUP BY p.id, p.sku
WITH NO DATA;

CREATE UNIQUE INDEX product_sales_product_id_idx ON reporting.product_sales (product_id);
