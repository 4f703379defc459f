-- Accounts, device and email identities, refresh tokens.
CREATE EXTENSION IF NOT EXISTS pgcrypto;

CREATE TABLE accounts (
    id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    username      text NOT NULL UNIQUE CHECK (char_length(username) BETWEEN 3 AND 32),
    display_name  text CHECK (char_length(display_name) <= 64),
    metadata      jsonb NOT NULL DEFAULT '{}'::jsonb,
    email         text UNIQUE,
    password_hash text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE account_devices (
    device_id  text PRIMARY KEY CHECK (char_length(device_id) BETWEEN 6 AND 128),
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX account_devices_account ON account_devices(account_id);

-- Refresh tokens are stored as SHA-256 hashes; revoked_at marks them dead.
CREATE TABLE refresh_tokens (
    token_hash text PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL,
    revoked_at timestamptz
);
CREATE INDEX refresh_tokens_account ON refresh_tokens(account_id);
