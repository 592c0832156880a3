//! Integration tests: each starts the real application on a random port (see `helpers`), on the backend
//! named by `TERRAIN_TEST_BACKEND` (sqlite by default, postgres with `TERRAIN_TEST_PG_URL`).

mod access;
mod accounts;
mod api;
mod field;
mod helpers;
mod newsletters;
mod newsletters_ui;
mod org;
mod people;
mod platform;
mod territory;
mod territory_ui;
