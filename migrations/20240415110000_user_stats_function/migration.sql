CREATE FUNCTION user_lifetime_value(p_user_id BIGINT) RETURNS BIGINT
LANGUAGE plpgsql STABLE AS $$
DECLARE
  v_total BIGINT;
BEGIN
  SELECT COALESCE(SUM(order_total(id)), 0) INTO v_total
  FROM orders WHERE user_id = p_user_id AND state IN ('paid', 'shipped');
  RETURN v_total;
END
$$;

CREATE VIEW user_stats AS
SELECT u.id, u.email, user_lifetime_value(u.id) AS lifetime_value_cents,
       (SELECT count(*) FROM orders o WHERE o.user_id = u.id) AS orders
FROM users u;
