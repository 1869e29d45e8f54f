CREATE TABLE audit_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    table_name TEXT NOT NULL,
    row_id TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('insert', 'update', 'delete')),
    changed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    diff JSONB
);

CREATE FUNCTION audit_row() RETURNS trigger LANGUAGE plpgsql AS $audit$
DECLARE
  v_id TEXT;
BEGIN
  v_id := CASE WHEN TG_OP = 'DELETE' THEN OLD.id::text ELSE NEW.id::text END;
  INSERT INTO audit_log (table_name, row_id, action, diff)
  VALUES (TG_TABLE_NAME, v_id, lower(TG_OP),
          CASE WHEN TG_OP = 'UPDATE' THEN to_jsonb(NEW) - 'updated_at' ELSE NULL END);
  RETURN NULL; -- after trigger; "COMMIT;" in a comment or string: 'COMMIT;'
END
$audit$;

CREATE TRIGGER orders_audit AFTER INSERT OR UPDATE OR DELETE ON orders
  FOR EACH ROW EXECUTE FUNCTION audit_row();
