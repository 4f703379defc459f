-- Storage objects (modules/storage, docs/STORAGE.md): (collection, key, owner) -> a JSON object.
--
-- owner_id NULL: the object belongs to the server (global config, seasonal data). owner_key
-- is owner_id with NULL as the nil UUID, so one primary key covers both kinds and lookups
-- stay index scans. A deleted account takes its objects with it.
-- version is md5 of the stored value's text (jsonb's canonical form): writing the same value
-- again gives the same version.
-- permission_read: 0 none (server only), 1 owner, 2 public.
-- permission_write: 0 none (server only), 1 owner.
CREATE TABLE storage_objects (
    collection       text NOT NULL,
    key              text NOT NULL,
    owner_id         uuid REFERENCES accounts(id) ON DELETE CASCADE,
    owner_key        uuid GENERATED ALWAYS AS (coalesce(owner_id, '00000000-0000-0000-0000-000000000000'::uuid)) STORED,
    value            jsonb NOT NULL,
    version          text NOT NULL,
    permission_read  smallint NOT NULL DEFAULT 1 CHECK (permission_read BETWEEN 0 AND 2),
    permission_write smallint NOT NULL DEFAULT 1 CHECK (permission_write BETWEEN 0 AND 1),
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (collection, owner_key, key)
);
CREATE INDEX storage_objects_owner ON storage_objects (owner_key);

-- Write a batch in one transaction, all or nothing. objs: [{collection, key, owner_id,
-- value, version, permission_read, permission_write}] (checked by the server before).
-- caller NULL: the server writes (permissions bypassed, owner_id taken from each
-- object); otherwise every object is the caller's own and must be writable by its owner.
-- version: absent = write whatever is there; "*" = only if the object does not exist;
-- anything else = only if the object has that version.
-- The checks run first, with the existing rows locked, so a refusal writes nothing:
-- outcome 'conflict' / 'forbidden' with idx (0-based) of the first object refused.
-- Two batches creating the same object at once: the second fails with a unique
-- violation (a conflict as well). Otherwise one 'ok' row per object, in order.
CREATE FUNCTION storage_write(caller uuid, objs jsonb)
RETURNS TABLE (outcome text, idx int, o_collection text, o_key text, o_owner_id uuid, o_version text,
               o_created_at timestamptz, o_updated_at timestamptz)
LANGUAGE plpgsql AS $$
DECLARE
    o jsonb; i int; own uuid; cur_version text; cur_write smallint; want text;
BEGIN
    FOR o, i IN SELECT e, (n - 1)::int FROM jsonb_array_elements(objs) WITH ORDINALITY AS t(e, n) LOOP
        own := CASE WHEN caller IS NULL THEN (o->>'owner_id')::uuid ELSE caller END;
        SELECT s.version, s.permission_write INTO cur_version, cur_write FROM storage_objects s
         WHERE s.collection = o->>'collection' AND s.key = o->>'key'
           AND s.owner_key = coalesce(own, '00000000-0000-0000-0000-000000000000'::uuid)
           FOR UPDATE;
        want := o->>'version';
        IF caller IS NOT NULL AND cur_version IS NOT NULL AND cur_write = 0 THEN
            RETURN QUERY SELECT 'forbidden'::text, i, NULL::text, NULL::text, NULL::uuid, NULL::text, NULL::timestamptz, NULL::timestamptz;
            RETURN;
        END IF;
        IF (want = '*' AND cur_version IS NOT NULL) OR (want IS NOT NULL AND want <> '*' AND cur_version IS DISTINCT FROM want) THEN
            RETURN QUERY SELECT 'conflict'::text, i, NULL::text, NULL::text, NULL::uuid, cur_version, NULL::timestamptz, NULL::timestamptz;
            RETURN;
        END IF;
    END LOOP;
    FOR o, i IN SELECT e, (n - 1)::int FROM jsonb_array_elements(objs) WITH ORDINALITY AS t(e, n) LOOP
        own := CASE WHEN caller IS NULL THEN (o->>'owner_id')::uuid ELSE caller END;
        RETURN QUERY
        INSERT INTO storage_objects AS s (collection, key, owner_id, value, version, permission_read, permission_write)
        VALUES (o->>'collection', o->>'key', own, o->'value', md5((o->'value')::text),
                coalesce((o->>'permission_read')::smallint, 1), coalesce((o->>'permission_write')::smallint, 1))
        ON CONFLICT (collection, owner_key, key) DO UPDATE
           SET value = excluded.value, version = excluded.version,
               permission_read = excluded.permission_read, permission_write = excluded.permission_write,
               updated_at = now()
        RETURNING 'ok'::text, i, s.collection, s.key, s.owner_id, s.version, s.created_at, s.updated_at;
    END LOOP;
END;
$$;

-- Delete a batch in one transaction, all or nothing. ids: [{collection, key, owner_id,
-- version}]. caller as for storage_write. A missing object is no error unless a version
-- was given (then 'conflict'); a player cannot delete an object whose permission_write is
-- none ('forbidden'). Else one 'ok' row with the number of objects deleted.
CREATE FUNCTION storage_delete(caller uuid, ids jsonb)
RETURNS TABLE (outcome text, idx int, deleted int)
LANGUAGE plpgsql AS $$
DECLARE
    o jsonb; i int; own uuid; cur_version text; cur_write smallint; want text; n int := 0; k int;
BEGIN
    FOR o, i IN SELECT e, (n2 - 1)::int FROM jsonb_array_elements(ids) WITH ORDINALITY AS t(e, n2) LOOP
        own := CASE WHEN caller IS NULL THEN (o->>'owner_id')::uuid ELSE caller END;
        SELECT s.version, s.permission_write INTO cur_version, cur_write FROM storage_objects s
         WHERE s.collection = o->>'collection' AND s.key = o->>'key'
           AND s.owner_key = coalesce(own, '00000000-0000-0000-0000-000000000000'::uuid)
           FOR UPDATE;
        want := o->>'version';
        IF caller IS NOT NULL AND cur_version IS NOT NULL AND cur_write = 0 THEN
            RETURN QUERY SELECT 'forbidden'::text, i, 0;
            RETURN;
        END IF;
        IF want IS NOT NULL AND (want = '*' OR cur_version IS DISTINCT FROM want) THEN
            RETURN QUERY SELECT 'conflict'::text, i, 0;
            RETURN;
        END IF;
    END LOOP;
    FOR o, i IN SELECT e, (n2 - 1)::int FROM jsonb_array_elements(ids) WITH ORDINALITY AS t(e, n2) LOOP
        own := CASE WHEN caller IS NULL THEN (o->>'owner_id')::uuid ELSE caller END;
        DELETE FROM storage_objects s
         WHERE s.collection = o->>'collection' AND s.key = o->>'key'
           AND s.owner_key = coalesce(own, '00000000-0000-0000-0000-000000000000'::uuid);
        GET DIAGNOSTICS k = ROW_COUNT;
        n := n + k;
    END LOOP;
    RETURN QUERY SELECT 'ok'::text, -1, n;
END;
$$;
