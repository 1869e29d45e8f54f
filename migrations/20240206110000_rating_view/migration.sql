CREATE VIEW product_ratings AS
SELECT product_id, round(avg(rating)::numeric, 2) AS average, count(*) AS reviews
FROM reviews GROUP BY product_id;
