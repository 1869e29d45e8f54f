ALTER TABLE users ADD COLUMN is_staff BOOLEAN NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN marketing_opt_in BOOLEAN NOT NULL DEFAULT false;
COMMENT ON COLUMN users.marketing_opt_in IS 'Explicit consent; never default to true.';
