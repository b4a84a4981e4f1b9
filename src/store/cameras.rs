//! The store's camera records: pass-through to the index, so that `crate::cameras` persists
//! through the [`Store`] facade like every other module (invariant 9).

use super::{Store, StoreError};
use crate::store::index::{CameraRow, PasswordSealing};

impl Store {
    /// Adds a camera; [`StoreError::CameraExists`] if the name is taken.
    pub async fn insert_camera(&self, camera: CameraRow) -> Result<(), StoreError> {
        self.index().insert_camera(camera).await
    }

    /// Replaces a camera; [`StoreError::CameraNotFound`] if there is none.
    pub async fn update_camera(&self, camera: CameraRow) -> Result<(), StoreError> {
        self.index().update_camera(camera).await
    }

    /// The camera of that name; [`StoreError::CameraNotFound`] if there is none.
    pub async fn camera(&self, name: &str) -> Result<CameraRow, StoreError> {
        self.index()
            .camera(name)
            .await?
            .ok_or_else(|| StoreError::CameraNotFound(name.to_owned()))
    }

    /// Every camera, by name.
    pub async fn list_cameras(&self) -> Result<Vec<CameraRow>, StoreError> {
        self.index().list_cameras().await
    }

    /// Replaces legacy clear-text passwords (schema ≤ 6) with sealed ones, scrubbing the clear
    /// text from the index's files; see [`crate::store::index::Index::seal_camera_passwords`].
    pub async fn seal_camera_passwords(
        &self,
        sealings: Vec<PasswordSealing>,
    ) -> Result<usize, StoreError> {
        self.index().seal_camera_passwords(sealings).await
    }

    /// Removes a camera; [`StoreError::CameraNotFound`] if there is none.
    pub async fn delete_camera(&self, name: &str) -> Result<(), StoreError> {
        self.index().delete_camera(name).await
    }
}
