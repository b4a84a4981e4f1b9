//! Access control: who is calling (authentication) and may they (authorization).
//!
//! Every request except `/healthz` and the login page needs a principal, proven one of three
//! ways: an AWS Signature Version 4 (header or presigned query, [`sigv4`]) made with an access
//! key the server knows ([`keys`]), a web UI session cookie, or a playback token minted for one
//! stream. The principal's policy ([`policy`], IAM-style JSON) then decides the request's action
//! on its resource: deny by default, an explicit Deny wins.
//!
//! Secrets (access keys' secret halves, camera passwords) are stored sealed with AES-256-GCM
//! under the master key ([`seal`]); they are never logged and never returned after creation.

pub mod policy;
