BEGIN;
CREATE TABLE coupons (
    code TEXT PRIMARY KEY,
    percent_off SMALLINT CHECK (percent_off BETWEEN 1 AND 100),
    amount_off_cents INTEGER CHECK (amount_off_cents > 0),
    valid_from DATE NOT NULL DEFAULT current_date,
    valid_until DATE,
    CHECK ((percent_off IS NULL) <> (amount_off_cents IS NULL))
);
ALTER TABLE orders ADD COLUMN coupon_code TEXT REFERENCES coupons (code);
COMMIT;
