-- Senders whose remote images a user always wants shown (issue 14: "show images" per sender).
-- Remote images in mail are blocked by default (they tell the sender when and where a message
-- was read); an address here makes the reader fetch them through Madang's signed image proxy
-- without asking. `address` is the sender's address in lower case.
CREATE TABLE mail_image_senders (
    user_id    BIGINT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    address    TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (user_id, address)
);
