//! Statistics: per-worker counters (`counters.rs`), summed when read, and what
//! shows them: the stats page (`page.rs`, `html.rs`, `auth.rs`) and HAProxy's
//! CSV (`csv.rs`), both rendered from one reading of the state (`view.rs`).
pub mod admin;
pub mod auth;
pub mod counters;
pub mod csv;
pub mod html;
pub mod json;
pub mod page;
pub mod process;
pub mod view;
