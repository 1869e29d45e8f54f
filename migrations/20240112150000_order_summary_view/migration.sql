-- A view over a function: both must exist for the view to be created.
CREATE VIEW order_summaries AS
SELECT o.id, o.user_id, o.state, o.placed_at, order_total(o.id) AS computed_total_cents
FROM orders o;
