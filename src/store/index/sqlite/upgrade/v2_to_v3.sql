-- Version 3: per-stream image generation configuration (UpdateImageGenerationConfiguration; the
-- frame hook, src/frames/hook). One self-contained block.
CREATE TABLE image_generation (
  stream_id INTEGER PRIMARY KEY REFERENCES streams (id) ON DELETE CASCADE,
  -- the validated ImageGenerationConfiguration, as KVS JSON
  config TEXT NOT NULL,
  -- server time (epoch ms) of the last update
  updated_ms INTEGER NOT NULL
);
