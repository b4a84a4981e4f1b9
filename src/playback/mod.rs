//! The read side: turning stored fragments into what readers asked for. Pure where possible:
//! the formats (fmp4, ts, mkv_doc's framing, playlists) build bytes from index records and
//! stored byte ranges; the use cases (clips, GetMedia, fragment lists, the timeline) read
//! through [`crate::media`], never through the store's files, and leave HTTP to `api`.

use std::future::Future;

use bytes::Bytes;
use tokio::sync::mpsc;

pub mod clip;
pub mod dash;
pub mod error;
pub mod fmp4;
pub mod fragment_list;
pub mod get_media;
pub mod hls;
pub mod low_latency;
pub mod mkv_doc;
pub mod segment;
pub mod session;
pub mod timeline;
pub mod ts;
pub mod window;

/// What a body task sends: chunks, or the error that ends the body early.
pub type BodyTx = mpsc::Sender<Result<Bytes, std::io::Error>>;

/// A response body written by a task: `write` runs on its own task and sends chunks through a
/// channel of a few (so the body is never all in memory); the stream yields them until `write`
/// returns. When the client goes away the sends fail, and `write` should stop.
pub fn spawn_body<F, Fut>(
    write: F,
) -> impl futures_util::Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static
where
    F: FnOnce(BodyTx) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = mpsc::channel(4);
    tokio::spawn(write(tx));
    futures_util::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|b| (b, rx)) })
}
