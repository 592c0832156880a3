//! Newsletters: lists, campaigns composed from blocks, a sender that never sends twice, tracking, unsubscribes,
//! bounces and analytics.

pub mod render;
