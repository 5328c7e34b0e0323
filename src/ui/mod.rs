//! The pages and components, rendered on the server and hydrated in the browser.

pub mod app;
pub mod clock;
pub mod components;
pub mod format;
pub mod live;
pub mod pages;
pub mod resource;
pub mod session;
