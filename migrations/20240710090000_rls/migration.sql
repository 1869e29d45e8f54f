ALTER TABLE addresses ENABLE ROW LEVEL SECURITY;
CREATE POLICY addresses_owner ON addresses
  USING (user_id = NULLIF(current_setting('app.user_id', true), '')::bigint);
