DO $grant$
DECLARE
  t record;
BEGIN
  FOR t IN SELECT tablename FROM pg_tables WHERE schemaname = 'public' LOOP
    EXECUTE format('GRANT SELECT ON %I TO app_readonly', t.tablename);
  END LOOP;
END
$grant$;
