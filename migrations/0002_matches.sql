-- Finished matches: who played, the params, and the result.
CREATE TABLE matches (
    id             uuid PRIMARY KEY,
    mode           text NOT NULL,
    script_version integer NOT NULL,
    params         jsonb NOT NULL DEFAULT '{}'::jsonb,
    players        jsonb NOT NULL DEFAULT '[]'::jsonb,
    status         text NOT NULL,
    reason         text,
    result         jsonb,
    ticks          bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL,
    started_at     timestamptz,
    finished_at    timestamptz
);
CREATE INDEX matches_mode_finished ON matches (mode, finished_at DESC);
