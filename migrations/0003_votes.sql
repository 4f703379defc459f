-- Vote audit trail: each vote's spec, ballots and result, stored when it closes.
CREATE TABLE votes (
    id         uuid PRIMARY KEY,
    match_id   uuid NOT NULL,
    mode       text NOT NULL,
    method     text NOT NULL,
    spec       jsonb NOT NULL,
    ballots    jsonb NOT NULL,
    result     jsonb,            -- null when vetoed
    vetoed_by  text,
    outcome    text NOT NULL,    -- closed | vetoed | cancelled
    started_at timestamptz NOT NULL,
    closed_at  timestamptz NOT NULL
);
CREATE INDEX votes_match ON votes (match_id, started_at);
