//! `mode tcp`: connect to a server and relay bytes both ways.

pub mod relay;
