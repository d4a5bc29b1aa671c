-- Full-text search over chat messages (src/store/chat_search.rs): a GIN index over the distinct
-- character bigrams of each message's lower-cased text, computed by the function below.
--
-- Why not pg_trgm: it takes its word characters from the database's LC_CTYPE. In a database
-- created with LC_CTYPE 'C' (common for PostgreSQL clusters), show_trgm('회의록 공유') is empty,
-- so Korean would silently never be found; with C.UTF-8 it works. Search must not depend on how
-- the cluster was initialised. pg_trgm would also need CREATE EXTENSION, which lands in one
-- schema of the database (the test suite runs each test in a schema of its own).
--
-- Why bigrams rather than trigrams: Korean words are often two syllables (회의, 일정), and a
-- trigram index cannot find a two-character term. A term of n ≥ 2 characters is found by the
-- index as "the message has all n-1 of its bigrams" and rechecked exactly with strpos(); a
-- one-character term is only rechecked. The index covers live messages only (a deleted one has
-- an empty body anyway). The function uses only built-ins, so it behaves alike on every locale.
CREATE FUNCTION chat_search_grams(body TEXT) RETURNS TEXT[]
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$
        SELECT coalesce(array_agg(DISTINCT substr(t, i, 2)), '{}')
        FROM (SELECT lower(body) AS t) AS s, generate_series(1, char_length(t) - 1) AS i
    $$;

CREATE INDEX chat_messages_search ON chat_messages USING gin (chat_search_grams(body)) WHERE deleted_at IS NULL;
