CREATE FUNCTION reporting.refresh_all() RETURNS void
LANGUAGE plpgsql AS $body$
BEGIN
  REFRESH MATERIALIZED VIEW reporting.product_sales;
  INSERT INTO reporting.daily_sales (day, orders, revenue_cents)
  SELECT placed_at::date, count(*), sum(total_cents) FROM orders
  WHERE placed_at IS NOT NULL GROUP BY 1
  ON CONFLICT (day) DO UPDATE SET orders = EXCLUDED.orders, revenue_cents = EXCLUDED.revenue_cents;
END
$body$;
