-- Version 2: streams record their KVS storage tier (CreateStream's StreamStorageConfiguration).
ALTER TABLE streams
  ADD COLUMN storage_tier TEXT NOT NULL DEFAULT 'HOT' CHECK (storage_tier IN ('HOT', 'WARM'));
