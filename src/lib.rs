//! Terrain: a self-hosted digital campaign headquarters for a federated party.
//!
//! Layers (see the README's architecture section): `config` → `db` (one SQL code base for SQLite and
//! PostgreSQL, migrations) → domain modules with their scoped repositories (`access` is the scope gate,
//! `org`, `users`, `audit`, `jobs`, `mail`) → `web` (HTML pages, JSON API) and `cli`.

pub mod access;
pub mod app;
pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod db;
pub mod demo;
pub mod error;
pub mod field;
pub mod jobs;
pub mod mail;
pub mod newsletter;
pub mod org;
pub mod paris;
pub mod people;
pub mod seed;
pub mod territory;
pub mod users;
pub mod web;
