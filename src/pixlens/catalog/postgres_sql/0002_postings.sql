-- Posting lists for search, kept in memory by each process (pixlens.catalog.postings, as in the SQLite catalog):
-- every change of an index entry bumps the entry's generation and logs the image (with its confidence, or NULL
-- when removed), so that a process catches its postings up with the few changes since, instead of reading the
-- whole entry again; large postings are saved in "postings" for the next process. The entry '' is the universe
-- (every analysed image), for NOT.
CREATE TABLE posting_generations (entry TEXT PRIMARY KEY, generation BIGINT NOT NULL);
CREATE TABLE postings (
    entry TEXT PRIMARY KEY,
    generation BIGINT NOT NULL,
    bitmap BYTEA NOT NULL,
    scores BYTEA NOT NULL,
    ranked BYTEA NOT NULL,
    ranked_scores BYTEA NOT NULL
);
CREATE TABLE posting_log (
    id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    entry TEXT NOT NULL,
    generation BIGINT NOT NULL,
    image_id INTEGER NOT NULL,
    confidence DOUBLE PRECISION
);
CREATE INDEX posting_log_by_entry ON posting_log (entry, generation);

-- Once per statement (an image's entries are written by one statement): each entry's generation moves by its
-- number of changed rows, and each row is logged under one of the generations it took.
CREATE FUNCTION log_entry_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH changes AS (
        SELECT label AS entry, image_id, CASE WHEN TG_OP = 'INSERT' THEN confidence END AS confidence
        FROM changed_rows
    ),
    counted AS (SELECT entry, count(*) AS n FROM changes GROUP BY entry),
    bumped AS (
        INSERT INTO posting_generations AS g (entry, generation) SELECT entry, n FROM counted
        ON CONFLICT (entry) DO UPDATE SET generation = g.generation + excluded.generation
        RETURNING g.entry, g.generation
    )
    INSERT INTO posting_log (entry, generation, image_id, confidence)
    SELECT c.entry, b.generation - n.n + row_number() OVER (PARTITION BY c.entry ORDER BY c.image_id),
           c.image_id, c.confidence
    FROM changes c JOIN bumped b ON b.entry = c.entry JOIN counted n ON n.entry = c.entry;
    RETURN NULL;
END
$$;
CREATE TRIGGER postings_entries_added AFTER INSERT ON label_index
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION log_entry_changes();
CREATE TRIGGER postings_entries_removed AFTER DELETE ON label_index
    REFERENCING OLD TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION log_entry_changes();

-- An image entering or leaving the analysed ones (rare: row triggers with a condition).
CREATE FUNCTION log_universe_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    step BIGINT;
BEGIN
    INSERT INTO posting_generations AS g (entry, generation) VALUES ('', 1)
    ON CONFLICT (entry) DO UPDATE SET generation = g.generation + 1
    RETURNING generation INTO step;
    IF TG_OP = 'DELETE' THEN
        INSERT INTO posting_log (entry, generation, image_id, confidence) VALUES ('', step, OLD.id, NULL);
    ELSE
        INSERT INTO posting_log (entry, generation, image_id, confidence)
        VALUES ('', step, NEW.id, CASE WHEN NEW.has_analysis THEN 0 END);
    END IF;
    RETURN NULL;
END
$$;
CREATE TRIGGER postings_image_added AFTER INSERT ON images
    FOR EACH ROW WHEN (NEW.has_analysis) EXECUTE FUNCTION log_universe_change();
CREATE TRIGGER postings_image_changed AFTER UPDATE OF has_analysis ON images
    FOR EACH ROW WHEN (OLD.has_analysis IS DISTINCT FROM NEW.has_analysis) EXECUTE FUNCTION log_universe_change();
CREATE TRIGGER postings_image_removed AFTER DELETE ON images
    FOR EACH ROW WHEN (OLD.has_analysis) EXECUTE FUNCTION log_universe_change();
