CREATE DOMAIN email_address AS TEXT CHECK (VALUE ~ '^[^@\s]+@[^@\s]+$');
CREATE TABLE newsletter_subscribers (
    email email_address PRIMARY KEY,
    subscribed_at TIMESTAMPTZ NOT NULL DEFAULT now()
);
