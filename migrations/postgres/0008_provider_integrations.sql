-- Provider integrations: an IAM role in a customer's AWS account that Frazil may assume for one
-- environment, guarded by an external id Frazil generated (stable for the integration's life).
-- Ids are unique per environment; deleting an environment deletes its integrations.
CREATE TABLE provider_integrations (
    env_uid           TEXT NOT NULL REFERENCES environments (uid),
    id                TEXT NOT NULL,
    name              TEXT NOT NULL,
    customer_role_arn TEXT NOT NULL,
    external_id       TEXT NOT NULL,
    created_at_ms     BIGINT NOT NULL,
    PRIMARY KEY (env_uid, id)
);
