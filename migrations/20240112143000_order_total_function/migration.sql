CREATE FUNCTION order_total(p_order_id BIGINT) RETURNS BIGINT
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(SUM(quantity * unit_price_cents), 0)::BIGINT
  FROM order_lines WHERE order_id = p_order_id
$$;
