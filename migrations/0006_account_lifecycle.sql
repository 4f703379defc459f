-- Account lifecycle: bans, session revocation and deletion (modules/account/lifecycle.c).
--
-- token_version is the "tv" claim of the session tokens issued for the account; a ban,
-- a deletion or "sign out everywhere" increments it and the server refuses older
-- tokens until tokens_revoked_until (the moment the last of them expires). The server
-- keeps those refusals in memory and loads them from here at start-up, so a restart
-- does not bring revoked tokens back.
ALTER TABLE accounts
    ADD COLUMN banned_at            timestamptz,
    ADD COLUMN ban_reason           text CHECK (char_length(ban_reason) <= 256),
    ADD COLUMN token_version        integer NOT NULL DEFAULT 0,
    ADD COLUMN tokens_revoked_until timestamptz;
CREATE INDEX accounts_tokens_revoked ON accounts (tokens_revoked_until) WHERE tokens_revoked_until IS NOT NULL;
CREATE INDEX accounts_banned ON accounts (banned_at) WHERE banned_at IS NOT NULL;

-- A deleted account leaves only this: its id and until when its session tokens
-- could still be presented (they are refused). Pruned once revoke_until passes.
CREATE TABLE account_tombstones (
    account_id   uuid PRIMARY KEY,
    deleted_at   timestamptz NOT NULL DEFAULT now(),
    revoke_until timestamptz NOT NULL
);
CREATE INDEX account_tombstones_until ON account_tombstones (revoke_until);

-- Rows that name an account without a foreign key, found on deletion by these.
CREATE INDEX chat_messages_sender ON chat_messages (sender_id);
CREATE INDEX notifications_sender ON notifications (sender_id) WHERE sender_id IS NOT NULL;

-- Chat history rule on deletion: direct channels with the account are removed whole
-- (both sides); its messages elsewhere (rooms, match channels) stay, with sender_id
-- set to the nil UUID, which names no account ("deleted player").
-- The insert trigger closes the race with a chat batch in flight: a message whose
-- sender (or direct-channel peer) has no account row is dropped, and FOR KEY SHARE
-- orders the insert against a concurrent delete as a foreign key would.
CREATE FUNCTION chat_messages_sender_live() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM accounts a WHERE a.id = NEW.sender_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RETURN NULL;
    END IF;
    IF NEW.channel_id LIKE 'dm:%' AND char_length(NEW.channel_id) = 76 THEN
        PERFORM 1 FROM accounts a
         WHERE a.id = CASE WHEN substr(NEW.channel_id, 4, 36) = NEW.sender_id::text
                           THEN substr(NEW.channel_id, 41, 36) ELSE substr(NEW.channel_id, 4, 36) END::uuid
           FOR KEY SHARE;
        IF NOT FOUND THEN
            RETURN NULL;
        END IF;
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER chat_messages_sender_live BEFORE INSERT ON chat_messages
    FOR EACH ROW EXECUTE FUNCTION chat_messages_sender_live();

-- Delete one account in one transaction. Cascades (0001, 0004): account_devices,
-- refresh_tokens, friendships (both sides), notifications of the account. Here:
-- notifications it sent to others, its direct channels, its sender id elsewhere,
-- and the tombstone. deleted = false when there was no such account.
CREATE FUNCTION account_delete(acc uuid, ttl_s int)
RETURNS TABLE (deleted boolean, username text, revoke_until_ms bigint)
LANGUAGE plpgsql AS $$
DECLARE
    uname text; until timestamptz := now() + make_interval(secs => ttl_s);
BEGIN
    DELETE FROM accounts a WHERE a.id = acc RETURNING a.username INTO uname;
    IF uname IS NULL THEN
        RETURN QUERY SELECT false, NULL::text, NULL::bigint;
        RETURN;
    END IF;
    DELETE FROM notifications n WHERE n.sender_id = acc;
    DELETE FROM chat_messages m
     WHERE m.channel_id LIKE 'dm:%'
       AND (m.channel_id LIKE 'dm:' || acc::text || ':%' OR m.channel_id LIKE 'dm:%:' || acc::text);
    UPDATE chat_messages m SET sender_id = '00000000-0000-0000-0000-000000000000' WHERE m.sender_id = acc;
    DELETE FROM account_tombstones t WHERE t.revoke_until < now();
    INSERT INTO account_tombstones (account_id, revoke_until) VALUES (acc, until)
    ON CONFLICT (account_id) DO UPDATE SET deleted_at = now(), revoke_until = EXCLUDED.revoke_until;
    RETURN QUERY SELECT true, uname, (extract(epoch FROM until) * 1000)::bigint;
END;
$$;
