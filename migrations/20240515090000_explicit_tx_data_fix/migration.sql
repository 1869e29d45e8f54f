-- Data fix with its own transaction and a savepoint.
BEGIN;
UPDATE products SET status = 'active' WHERE status = 'draft' AND price_cents > 0;
SAVEPOINT before_retire;
UPDATE products SET status = 'retired' WHERE sku LIKE 'OLD-%';
RELEASE SAVEPOINT before_retire;
COMMIT;
