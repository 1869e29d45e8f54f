CREATE FUNCTION assert_positive(v INTEGER) RETURNS INTEGER
LANGUAGE plpgsql IMMUTABLE AS '
BEGIN
  IF v <= 0 THEN
    RAISE EXCEPTION ''value % is not positive'', v;
  END IF;
  RETURN v;
END
';
