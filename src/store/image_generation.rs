//! The store's image generation configurations: pass-through to the index, so that the frame
//! hook persists through the [`Store`] facade like every other module.

use super::{Store, StoreError};
use crate::model::{StreamId, StreamRecord};
use crate::store::index::ImageGenerationRow;

impl Store {
    /// Sets (`Some`) or removes (`None`) a stream's image generation configuration.
    pub async fn put_image_generation(
        &self,
        stream: StreamId,
        row: Option<ImageGenerationRow>,
    ) -> Result<(), StoreError> {
        self.index().put_image_generation(stream, row).await
    }

    /// A stream's image generation configuration, if any.
    pub async fn image_generation(
        &self,
        stream: StreamId,
    ) -> Result<Option<ImageGenerationRow>, StoreError> {
        self.index().image_generation(stream).await
    }

    /// Every stream's image generation configuration.
    pub async fn list_image_generation(
        &self,
    ) -> Result<Vec<(StreamRecord, ImageGenerationRow)>, StoreError> {
        self.index().list_image_generation().await
    }
}
