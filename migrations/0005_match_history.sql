-- Match history for the console (GET /v1/admin/history/matches): newest first across modes,
-- paged by (finished_at, id), and "matches of player X" (players @> [{"player_id": X}]).
CREATE INDEX matches_finished ON matches (finished_at DESC, id DESC);
CREATE INDEX matches_players ON matches USING gin (players jsonb_path_ops);
