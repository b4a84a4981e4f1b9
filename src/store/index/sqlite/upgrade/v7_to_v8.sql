-- Version 8: segments moved to object storage (issue 16; src/store/tiering.rs). A segment whose
-- bytes are confirmed under its object key has the time of that confirmation.
ALTER TABLE segments ADD COLUMN uploaded_ms INTEGER;
