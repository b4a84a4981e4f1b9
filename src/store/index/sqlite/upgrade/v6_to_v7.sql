-- Version 7: camera passwords sealed at rest (issue 14; src/cameras, src/auth/seal.rs).
-- The upgrade cannot seal (the master key is not the index's): it adds the column, and the camera
-- supervisor seals every clear-text `password` into it at start-up, setting `password` to NULL.
ALTER TABLE cameras ADD COLUMN password_sealed BLOB;
