-- Leaderboards (modules/leaderboard, docs/LEADERBOARDS.md).
--
-- The server keeps every board's current period in memory (an order-statistic tree per
-- board, rebuilt from leaderboard_records at start-up) and answers reads from there; this
-- is the durable copy. All writes go through leaderboard_write(ops), one call (so one
-- transaction) per batch: a batch commits whole or not at all.
CREATE TABLE leaderboards (
    id            text PRIMARY KEY CHECK (id ~ '^[A-Za-z0-9_.:-]{1,64}$'),
    sort          text NOT NULL CHECK (sort IN ('desc', 'asc')),
    operator      text NOT NULL CHECK (operator IN ('best', 'set', 'incr')),
    reset         text CHECK (char_length(reset) <= 128),   -- cron expression, NULL: never
    client_submit boolean NOT NULL DEFAULT false,
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    period        integer NOT NULL DEFAULT 1,              -- the current period
    period_start  timestamptz NOT NULL DEFAULT now(),
    next_reset    timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now()
);

-- One row per owner and period. Rows of closed periods stay: the archive.
-- seq orders equal (score, subscore): the smaller reached it first.
CREATE TABLE leaderboard_records (
    leaderboard_id text NOT NULL,
    period         integer NOT NULL,
    owner_id       uuid NOT NULL,
    username       text,
    score          bigint NOT NULL,
    subscore       bigint NOT NULL DEFAULT 0,
    num_submits    integer NOT NULL DEFAULT 1,
    metadata       jsonb NOT NULL DEFAULT '{}'::jsonb,
    seq            bigint NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (leaderboard_id, period, owner_id)
);

-- Closed periods, for archive reads.
CREATE TABLE leaderboard_periods (
    leaderboard_id text NOT NULL,
    period         integer NOT NULL,
    started_at     timestamptz NOT NULL,
    ended_at       timestamptz NOT NULL,
    PRIMARY KEY (leaderboard_id, period)
);

-- ops: {"boards": [...], "resets": [...], "records": [...]}, applied in that order (the
-- server puts at most one record per (board, period, owner) in a batch, the latest).
CREATE FUNCTION leaderboard_write(ops jsonb) RETURNS integer
LANGUAGE plpgsql AS $$
DECLARE
    n integer := 0;
BEGIN
    INSERT INTO leaderboards (id, sort, operator, reset, client_submit, metadata, period, period_start, next_reset)
    SELECT b.id, b.sort, b.operator, b.reset, b.client_submit, COALESCE(b.metadata, '{}'::jsonb), b.period,
           to_timestamp(b.period_start / 1000.0), to_timestamp(b.next_reset / 1000.0)
      FROM jsonb_to_recordset(COALESCE(ops->'boards', '[]'::jsonb))
           AS b(id text, sort text, operator text, reset text, client_submit boolean, metadata jsonb,
                period integer, period_start bigint, next_reset bigint)
    ON CONFLICT (id) DO NOTHING;

    FOR r IN 0 .. COALESCE(jsonb_array_length(ops->'resets'), 0) - 1 LOOP
        INSERT INTO leaderboard_periods (leaderboard_id, period, started_at, ended_at)
        VALUES (ops->'resets'->r->>'id', (ops->'resets'->r->>'closed')::integer,
                to_timestamp((ops->'resets'->r->>'started')::bigint / 1000.0),
                to_timestamp((ops->'resets'->r->>'ended')::bigint / 1000.0))
        ON CONFLICT DO NOTHING;
        UPDATE leaderboards
           SET period = (ops->'resets'->r->>'period')::integer,
               period_start = to_timestamp((ops->'resets'->r->>'ended')::bigint / 1000.0),
               next_reset = to_timestamp((ops->'resets'->r->>'next_reset')::bigint / 1000.0)
         WHERE id = ops->'resets'->r->>'id';
    END LOOP;

    INSERT INTO leaderboard_records AS t (leaderboard_id, period, owner_id, username, score, subscore,
                                          num_submits, metadata, seq, updated_at)
    SELECT x.b, x.p, x.o, x.u, x.s, x.ss, x.n, COALESCE(x.m, '{}'::jsonb), x.q, to_timestamp(x.t / 1000.0)
      FROM jsonb_to_recordset(COALESCE(ops->'records', '[]'::jsonb))
           AS x(b text, p integer, o uuid, u text, s bigint, ss bigint, n integer, m jsonb, q bigint, t bigint)
    ON CONFLICT (leaderboard_id, period, owner_id) DO UPDATE
       SET username = COALESCE(EXCLUDED.username, t.username), score = EXCLUDED.score,
           subscore = EXCLUDED.subscore, num_submits = EXCLUDED.num_submits, metadata = EXCLUDED.metadata,
           seq = EXCLUDED.seq, updated_at = EXCLUDED.updated_at;
    GET DIAGNOSTICS n = ROW_COUNT;
    RETURN n;
END
$$;
