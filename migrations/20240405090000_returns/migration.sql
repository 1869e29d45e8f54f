CREATE TYPE return_reason AS ENUM ('damaged', 'wrong_item', 'not_as_described', 'other');
CREATE TABLE returns (
    id BIGSERIAL PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    line_no INTEGER NOT NULL,
    reason return_reason NOT NULL,
    note TEXT,
    FOREIGN KEY (order_id, line_no) REFERENCES order_lines (order_id, line_no)
);
