//! The camera supervisor: the background job (STYLE §11) that keeps one [`Runner`] per enabled
//! camera, and the service the API calls to add, change and remove cameras.
//!
//! The index is the truth for what cameras exist; the supervisor holds only the running tasks
//! and their status. Every change goes to the index first, then the camera's runner is restarted
//! (stopped, and started again if enabled), so a change of URL or credentials takes effect at
//! once. [`Supervisor::start`] (from `server.rs`) starts the enabled cameras and returns the
//! handle whose [`SupervisorHandle::stop`] closes every camera connection and waits for the
//! runners' ingest sessions to end, before the store is closed. A dropped handle signals the
//! runners too.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use super::runner::CameraOptions;
use super::runner::{Runner, Shared};
use super::status::{CameraState, CameraStatus};
use super::{Camera, CameraError, PASSWORD_PURPOSE};
use crate::auth::seal::Sealer;
use crate::ingest::Ingest;
use crate::store::index::{CameraRow, PasswordSealing, StoredPassword};
use crate::store::{Store, StreamRef};

/// How long a runner gets to close its connection and finish its ingest session.
const STOP_TIMEOUT: Duration = Duration::from_secs(40);

/// The camera service, shared by the API handlers (cheap to clone).
#[derive(Clone)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

struct Inner {
    store: Store,
    ingest: Ingest,
    opts: CameraOptions,
    /// Seals passwords before they are stored; the runners open them to connect.
    sealer: Sealer,
    runners: Mutex<HashMap<String, Running>>,
    /// Runners start only between [`Supervisor::start`] and [`SupervisorHandle::stop`].
    active: AtomicBool,
}

struct Running {
    shared: Arc<Mutex<Shared>>,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
}

impl Supervisor {
    /// A supervisor that pulls cameras into `ingest`, with passwords sealed by `sealer` (the
    /// master key's, [`crate::auth::keys::KeyStore::sealer`]); nothing runs until
    /// [`Supervisor::start`].
    pub fn new(store: Store, ingest: Ingest, opts: CameraOptions, sealer: Sealer) -> Self {
        Supervisor {
            inner: Arc::new(Inner {
                store,
                ingest,
                opts,
                sealer,
                runners: Mutex::new(HashMap::new()),
                active: AtomicBool::new(false),
            }),
        }
    }

    fn runners(&self) -> std::sync::MutexGuard<'_, HashMap<String, Running>> {
        self.inner.runners.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Seals the clear-text passwords an older build stored, then starts a runner for every
    /// enabled camera in the index.
    pub async fn start(&self) -> Result<SupervisorHandle, CameraError> {
        self.inner.active.store(true, Ordering::SeqCst);
        self.seal_legacy_passwords().await?;
        let rows = self.inner.store.list_cameras().await?;
        let mut started = 0usize;
        for row in rows {
            let name = row.name.clone();
            match Camera::from_row(row) {
                Ok(c) if c.enabled => {
                    self.restart(&c).await;
                    started += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(camera = %name, error = %e, "camera in the index is invalid; not pulled")
                }
            }
        }
        tracing::info!(cameras = started, "camera supervisor started");
        Ok(SupervisorHandle {
            supervisor: Some(self.clone()),
        })
    }

    /// Schema versions up to 6 kept camera passwords in clear text: seal each (it is the
    /// upgrade step the index cannot do, not holding the master key), and scrub the clear text
    /// from the index's files. A row changed meanwhile is left to its new value.
    async fn seal_legacy_passwords(&self) -> Result<(), CameraError> {
        let sealings: Vec<PasswordSealing> = self
            .inner
            .store
            .list_cameras()
            .await?
            .into_iter()
            .filter_map(|row| match row.password {
                Some(StoredPassword::Legacy(legacy)) => Some(PasswordSealing {
                    sealed: self
                        .inner
                        .sealer
                        .seal(PASSWORD_PURPOSE, &row.name, legacy.as_bytes()),
                    name: row.name,
                    legacy,
                }),
                _ => None,
            })
            .collect();
        if sealings.is_empty() {
            return Ok(());
        }
        let sealed = self.inner.store.seal_camera_passwords(sealings).await?;
        tracing::info!(
            cameras = sealed,
            master_key = self.inner.sealer.fingerprint(),
            "sealed clear-text camera passwords under the master key"
        );
        Ok(())
    }

    /// The index row of `camera` (its password sealed) and the camera as read back from that
    /// row, so that runners always open the sealed value, as after a restart.
    fn stored(&self, camera: &Camera) -> Result<(Camera, CameraRow), CameraError> {
        let row = camera.to_row(&self.inner.sealer);
        Ok((Camera::from_row(row.clone())?, row))
    }

    /// Adds a camera (its target stream must exist, its host must be allowed) and starts it if
    /// enabled.
    pub async fn add(&self, camera: Camera) -> Result<CameraStatus, CameraError> {
        self.check_stream(&camera).await?;
        self.check_egress(&camera).await?;
        let (camera, row) = self.stored(&camera)?;
        self.inner.store.insert_camera(row).await?;
        tracing::info!(camera = %camera.name, stream = %camera.stream, "camera added");
        self.restart(&camera).await;
        Ok(self.status(&camera))
    }

    /// Replaces a camera and restarts it. Its host is checked unless the change only disables
    /// it (so that a camera the policy no longer allows can still be switched off).
    pub async fn update(&self, camera: Camera) -> Result<CameraStatus, CameraError> {
        self.check_stream(&camera).await?;
        let old = self.inner.store.camera(&camera.name).await?;
        if camera.enabled || camera.url != old.url {
            self.check_egress(&camera).await?;
        }
        let (camera, row) = self.stored(&camera)?;
        self.inner.store.update_camera(row).await?;
        tracing::info!(camera = %camera.name, stream = %camera.stream, "camera updated");
        self.restart(&camera).await;
        Ok(self.status(&camera))
    }

    /// Removes a camera, closing its connection first.
    pub async fn remove(&self, name: &str) -> Result<(), CameraError> {
        self.inner.store.camera(name).await?;
        self.stop_runner(name).await;
        self.inner.store.delete_camera(name).await?;
        tracing::info!(camera = %name, "camera removed");
        Ok(())
    }

    /// One camera and its status.
    pub async fn get(&self, name: &str) -> Result<(Camera, CameraStatus), CameraError> {
        let camera = Camera::from_row(self.inner.store.camera(name).await?)?;
        let status = self.status(&camera);
        Ok((camera, status))
    }

    /// Every camera (by name) with its status. Rows that no longer validate are skipped with a
    /// log line rather than failing the whole listing.
    pub async fn list(&self) -> Result<Vec<(Camera, CameraStatus)>, CameraError> {
        let rows = self.inner.store.list_cameras().await?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let name = row.name.clone();
            match Camera::from_row(row) {
                Ok(c) => {
                    let s = self.status(&c);
                    out.push((c, s));
                }
                Err(e) => {
                    tracing::error!(camera = %name, error = %e, "invalid camera in the index")
                }
            }
        }
        Ok(out)
    }

    /// The camera's status: its runner's, or what it would be without one.
    pub fn status(&self, camera: &Camera) -> CameraStatus {
        match self.runners().get(&camera.name) {
            Some(r) => Shared::snapshot(&r.shared),
            None if camera.enabled => CameraStatus::new(CameraState::Connecting),
            None => CameraStatus::new(CameraState::Disabled),
        }
    }

    /// The target stream must exist, and no other camera may feed it: two cameras on one
    /// stream would keep taking the stream's single ingest session from each other.
    async fn check_stream(&self, camera: &Camera) -> Result<(), CameraError> {
        self.inner
            .store
            .describe(&StreamRef::Name(camera.stream.clone()))
            .await?;
        let taken = self
            .inner
            .store
            .list_cameras()
            .await?
            .into_iter()
            .find(|c| c.stream_name == camera.stream.as_str() && c.name != camera.name);
        match taken {
            Some(other) => Err(CameraError::StreamTaken {
                stream: camera.stream.to_string(),
                camera: other.name,
            }),
            None => Ok(()),
        }
    }

    /// The camera's host must be allowed by `[cameras] allowed_*`: an IP literal by itself, a
    /// name by what it resolves to now (a name that does not resolve passes; each connection
    /// checks again).
    async fn check_egress(&self, camera: &Camera) -> Result<(), CameraError> {
        let url = url::Url::parse(&camera.url)
            .map_err(|e| CameraError::Invalid(format!("url `{}` is invalid: {e}", camera.url)))?;
        let Some((host, port)) = super::pull::connect::host_port(&url) else {
            return Err(CameraError::Invalid(format!(
                "url `{}` has no host; use rtsp://host[:port]/path",
                camera.url
            )));
        };
        self.inner.opts.egress.precheck(&host, port).await?;
        Ok(())
    }

    /// Stops the camera's runner if any, then starts a new one if it is enabled.
    async fn restart(&self, camera: &Camera) {
        self.stop_runner(&camera.name).await;
        if !camera.enabled || !self.inner.active.load(Ordering::SeqCst) {
            return;
        }
        let shared = Shared::new(CameraState::Connecting);
        let (stop, stopped) = watch::channel(false);
        let runner = Runner {
            camera: camera.clone(),
            ingest: self.inner.ingest.clone(),
            store: self.inner.store.clone(),
            opts: self.inner.opts.clone(),
            sealer: self.inner.sealer.clone(),
            shared: Arc::clone(&shared),
        };
        let span = tracing::info_span!("camera", camera = %camera.name, stream = %camera.stream);
        let task = tokio::spawn(tracing::Instrument::instrument(runner.run(stopped), span));
        let old = self
            .runners()
            .insert(camera.name.clone(), Running { shared, stop, task });
        if let Some(old) = old {
            // A concurrent restart raced us; stop the other runner.
            let _ = old.stop.send(true);
        }
    }

    async fn stop_runner(&self, name: &str) {
        let running = self.runners().remove(name);
        if let Some(r) = running {
            let _ = r.stop.send(true);
            join(name, r.task).await;
        }
    }

    /// Stops every runner and waits for them.
    async fn stop_all(&self) {
        self.inner.active.store(false, Ordering::SeqCst);
        let all: Vec<(String, Running)> = self.runners().drain().collect();
        for (_, r) in &all {
            let _ = r.stop.send(true);
        }
        for (name, r) in all {
            join(&name, r.task).await;
        }
    }
}

async fn join(name: &str, task: JoinHandle<()>) {
    match tokio::time::timeout(STOP_TIMEOUT, task).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => tracing::error!(camera = %name, error = %e, "camera runner failed"),
        Err(_) => tracing::error!(camera = %name, "camera runner did not stop in time"),
    }
}

/// Stops the supervisor's runners: [`SupervisorHandle::stop`] waits for them; dropping the
/// handle only signals them.
pub struct SupervisorHandle {
    supervisor: Option<Supervisor>,
}

impl SupervisorHandle {
    /// Stops every camera connection and waits until their ingest sessions have ended.
    pub async fn stop(mut self) {
        if let Some(s) = self.supervisor.take() {
            s.stop_all().await;
            tracing::info!("camera supervisor stopped");
        }
    }
}

impl Drop for SupervisorHandle {
    fn drop(&mut self) {
        if let Some(s) = self.supervisor.take() {
            s.inner.active.store(false, Ordering::SeqCst);
            for r in s.runners().values() {
                let _ = r.stop.send(true);
            }
        }
    }
}
