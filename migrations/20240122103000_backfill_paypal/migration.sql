-- The value added by the previous migration is usable now: it was committed separately.
UPDATE payments SET method = 'paypal' WHERE provider_ref LIKE 'PAYPAL-%';
