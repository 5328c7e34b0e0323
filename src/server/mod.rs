//! Server-only code: configuration, database, repositories and the HTTP application.

pub mod allocator;
pub mod app;
pub mod auth;
pub mod bus;
pub mod cli;
pub mod db;
pub mod demo_agent;
pub mod events;
pub mod jobs;
pub mod live;
pub mod otlp;
pub mod partitions;
pub mod password;
pub mod publisher;
pub mod rate_limit;
pub mod read;
pub mod rest;
pub mod runs;
pub mod seed;
pub mod spans;
pub mod state;
pub mod telemetry;
pub mod traces;
pub mod users;
pub mod web;
