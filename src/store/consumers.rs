//! The store's frame-feed consumer checkpoints: pass-through to the index, so that the feed
//! persists through the [`Store`] facade like every other module (invariant 9).

use super::{Store, StoreError};
use crate::model::StreamId;
use crate::store::index::Checkpoint;

impl Store {
    /// Creates or replaces a consumer's checkpoint.
    pub async fn put_checkpoint(&self, checkpoint: Checkpoint) -> Result<(), StoreError> {
        self.index().put_checkpoint(checkpoint).await
    }

    /// A consumer's checkpoint, if it committed one.
    pub async fn checkpoint(
        &self,
        stream: StreamId,
        consumer: &str,
    ) -> Result<Option<Checkpoint>, StoreError> {
        self.index().checkpoint(stream, consumer).await
    }

    /// The stream's consumers, by name.
    pub async fn list_checkpoints(&self, stream: StreamId) -> Result<Vec<Checkpoint>, StoreError> {
        self.index().list_checkpoints(stream).await
    }

    /// Forgets a consumer; false if it had no checkpoint.
    pub async fn delete_checkpoint(
        &self,
        stream: StreamId,
        consumer: &str,
    ) -> Result<bool, StoreError> {
        self.index().delete_checkpoint(stream, consumer).await
    }
}
