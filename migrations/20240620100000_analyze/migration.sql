-- Refresh planner statistics after the big backfills; VACUUM refuses transaction blocks.
VACUUM (ANALYZE) products;
