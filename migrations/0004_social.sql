-- Social: chat history, friendships and notifications (modules/chat, modules/social).

-- Chat messages. channel_id is the storage key: the channel name for rooms and
-- match:<id> channels, "dm:<lower uuid>:<higher uuid>" for direct channels.
-- seq orders a channel and is the paging key; id is the message_id clients see.
CREATE TABLE chat_messages (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid NOT NULL UNIQUE,
    channel_id text NOT NULL,
    sender_id  uuid NOT NULL,
    content    text NOT NULL,
    sent_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX chat_messages_channel ON chat_messages (channel_id, seq DESC);

-- Friendships: one row per direction, state as seen by player_id.
-- A block is one row ('blocked') on the blocker's side; the blocked player's
-- row is removed (unless they blocked back).
CREATE TABLE friendships (
    player_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    other_id   uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    state      text NOT NULL CHECK (state IN ('friend', 'invite_sent', 'invite_received', 'blocked')),
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (player_id, other_id),
    CHECK (player_id <> other_id)
);
CREATE INDEX friendships_other ON friendships (other_id, player_id);

-- Notifications: seq orders a player's inbox and is the paging cursor.
CREATE TABLE notifications (
    seq        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    id         uuid NOT NULL UNIQUE,
    player_id  uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    type       text NOT NULL,
    subject    text NOT NULL,
    content    jsonb NOT NULL DEFAULT '{}'::jsonb,
    sender_id  uuid,
    created_at timestamptz NOT NULL DEFAULT now(),
    read       boolean NOT NULL DEFAULT false
);
CREATE INDEX notifications_player ON notifications (player_id, seq DESC);
CREATE INDEX notifications_unread ON notifications (player_id, seq DESC) WHERE NOT read;

-- The friend state machine runs in the database, one transaction per call,
-- serialised per pair of players by an advisory lock, so two players asking
-- each other at once end up friends instead of racing.

CREATE FUNCTION social_pair_lock(a uuid, b uuid) RETURNS void LANGUAGE sql AS $$
    SELECT pg_advisory_xact_lock(7350004, hashtext(least(a::text, b::text) || greatest(a::text, b::text)));
$$;

-- Request (or accept when the other side already asked). outcome:
-- not_found, self, blocked_by, you_blocked, limit, peer_limit, requested,
-- accepted, already. n_* describe the notification created for the peer.
CREATE FUNCTION social_friend_add(me uuid, target_id uuid, target_name text, max_friends int)
RETURNS TABLE (outcome text, peer_id uuid, peer_name text, new_state text,
               n_id uuid, n_type text, n_subject text, n_content jsonb)
LANGUAGE plpgsql AS $$
DECLARE
    tgt uuid; tname text; myname text; mine text; theirs text;
    nid uuid; ntype text; nsubject text; ncontent jsonb;
BEGIN
    IF target_id IS NOT NULL THEN
        SELECT a.id, a.username INTO tgt, tname FROM accounts a WHERE a.id = target_id;
    ELSE
        SELECT a.id, a.username INTO tgt, tname FROM accounts a WHERE a.username = target_name;
    END IF;
    IF tgt IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::uuid, NULL::text, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    IF tgt = me THEN
        RETURN QUERY SELECT 'self'::text, tgt, tname, NULL::text, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
        RETURN;
    END IF;
    PERFORM social_pair_lock(me, tgt);
    SELECT a.username INTO myname FROM accounts a WHERE a.id = me;
    SELECT f.state INTO mine FROM friendships f WHERE f.player_id = me AND f.other_id = tgt;
    SELECT f.state INTO theirs FROM friendships f WHERE f.player_id = tgt AND f.other_id = me;
    IF theirs = 'blocked' THEN
        RETURN QUERY SELECT 'blocked_by'::text, tgt, tname, mine, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
        RETURN;
    ELSIF mine = 'blocked' THEN
        RETURN QUERY SELECT 'you_blocked'::text, tgt, tname, mine, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
        RETURN;
    ELSIF mine IN ('friend', 'invite_sent') THEN
        RETURN QUERY SELECT 'already'::text, tgt, tname, mine, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
        RETURN;
    ELSIF mine = 'invite_received' THEN
        UPDATE friendships f SET state = 'friend', updated_at = now()
         WHERE (f.player_id = me AND f.other_id = tgt) OR (f.player_id = tgt AND f.other_id = me);
        -- the request is answered: mark it read in my inbox
        UPDATE notifications n SET read = true
         WHERE n.player_id = me AND n.sender_id = tgt AND n.type = 'friend_request' AND NOT n.read;
        ntype := 'friend_accepted';
        nsubject := 'Friend request accepted';
    ELSE
        IF (SELECT count(*) FROM friendships f WHERE f.player_id = me AND f.state <> 'blocked') >= max_friends THEN
            RETURN QUERY SELECT 'limit'::text, tgt, tname, mine, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
            RETURN;
        END IF;
        IF (SELECT count(*) FROM friendships f WHERE f.player_id = tgt AND f.state <> 'blocked') >= max_friends THEN
            RETURN QUERY SELECT 'peer_limit'::text, tgt, tname, mine, NULL::uuid, NULL::text, NULL::text, NULL::jsonb;
            RETURN;
        END IF;
        INSERT INTO friendships (player_id, other_id, state) VALUES (me, tgt, 'invite_sent'), (tgt, me, 'invite_received');
        ntype := 'friend_request';
        nsubject := 'New friend request';
    END IF;
    nid := gen_random_uuid();
    ncontent := jsonb_build_object('from_player_id', me, 'from_username', myname);
    INSERT INTO notifications (id, player_id, type, subject, content, sender_id)
    VALUES (nid, tgt, ntype, nsubject, ncontent, me);
    RETURN QUERY SELECT CASE WHEN ntype = 'friend_request' THEN 'requested' ELSE 'accepted' END,
        tgt, tname, CASE WHEN ntype = 'friend_request' THEN 'invite_sent' ELSE 'friend' END,
        nid, ntype, nsubject, ncontent;
END;
$$;

-- Remove a friend, cancel or decline a request, or lift my block. outcome:
-- not_found, removed, unblocked; prev_mine / prev_theirs are the states before.
CREATE FUNCTION social_friend_remove(me uuid, tgt uuid)
RETURNS TABLE (outcome text, prev_mine text, prev_theirs text)
LANGUAGE plpgsql AS $$
DECLARE
    mine text; theirs text;
BEGIN
    PERFORM social_pair_lock(me, tgt);
    SELECT f.state INTO mine FROM friendships f WHERE f.player_id = me AND f.other_id = tgt;
    SELECT f.state INTO theirs FROM friendships f WHERE f.player_id = tgt AND f.other_id = me;
    IF mine IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, mine, theirs;
        RETURN;
    END IF;
    DELETE FROM friendships f WHERE f.player_id = me AND f.other_id = tgt;
    IF mine = 'blocked' THEN
        RETURN QUERY SELECT 'unblocked'::text, mine, theirs;
        RETURN;
    END IF;
    DELETE FROM friendships f WHERE f.player_id = tgt AND f.other_id = me AND f.state <> 'blocked';
    IF mine = 'invite_sent' THEN -- cancelled: the request no longer stands
        DELETE FROM notifications n
         WHERE n.player_id = tgt AND n.sender_id = me AND n.type = 'friend_request' AND NOT n.read;
    ELSIF mine = 'invite_received' THEN -- declined
        UPDATE notifications n SET read = true
         WHERE n.player_id = me AND n.sender_id = tgt AND n.type = 'friend_request' AND NOT n.read;
    END IF;
    RETURN QUERY SELECT 'removed'::text, mine, theirs;
END;
$$;

-- Block: my row becomes 'blocked', theirs goes (unless they blocked me too).
-- outcome: not_found, self, blocked.
CREATE FUNCTION social_friend_block(me uuid, tgt uuid)
RETURNS TABLE (outcome text, peer_name text, prev_mine text, prev_theirs text)
LANGUAGE plpgsql AS $$
DECLARE
    tname text; mine text; theirs text;
BEGIN
    SELECT a.username INTO tname FROM accounts a WHERE a.id = tgt;
    IF tname IS NULL THEN
        RETURN QUERY SELECT 'not_found'::text, NULL::text, NULL::text, NULL::text;
        RETURN;
    END IF;
    IF tgt = me THEN
        RETURN QUERY SELECT 'self'::text, tname, NULL::text, NULL::text;
        RETURN;
    END IF;
    PERFORM social_pair_lock(me, tgt);
    SELECT f.state INTO mine FROM friendships f WHERE f.player_id = me AND f.other_id = tgt;
    SELECT f.state INTO theirs FROM friendships f WHERE f.player_id = tgt AND f.other_id = me;
    INSERT INTO friendships AS f (player_id, other_id, state) VALUES (me, tgt, 'blocked')
    ON CONFLICT (player_id, other_id) DO UPDATE SET state = 'blocked', updated_at = now();
    DELETE FROM friendships f WHERE f.player_id = tgt AND f.other_id = me AND f.state <> 'blocked';
    IF mine = 'invite_sent' THEN
        DELETE FROM notifications n
         WHERE n.player_id = tgt AND n.sender_id = me AND n.type = 'friend_request' AND NOT n.read;
    END IF;
    RETURN QUERY SELECT 'blocked'::text, tname, mine, theirs;
END;
$$;
