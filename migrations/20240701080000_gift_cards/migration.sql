CREATE TABLE gift_cards (
    code TEXT PRIMARY KEY,
    balance_cents BIGINT NOT NULL CHECK (balance_cents >= 0),
    issued_to BIGINT REFERENCES users (id),
    expires_on DATE
);
COMMENT ON TABLE gift_cards IS 'Issued by support; balances are in cents; ''quoted'' text; $1 is not a param';
