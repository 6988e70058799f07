//! Workflows shared by entry points (routes, jobs, cron). Nothing here imports `routes`.

pub mod links;
pub mod segments;
pub mod survey;
