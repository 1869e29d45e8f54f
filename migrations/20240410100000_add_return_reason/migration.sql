-- Adding an enum value and using it in the same file cannot share one transaction.
ALTER TYPE return_reason ADD VALUE 'late_delivery';
UPDATE returns SET reason = 'late_delivery' WHERE note ILIKE '%late%';
