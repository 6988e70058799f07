//! Clientela: a business's first-party customer base as one Cloudflare Worker.
//! This file holds the entry points only; `router` takes requests from here.

pub mod config;
pub mod domain;
pub mod error;
pub mod flows;
pub mod http;
pub mod jobs;
pub mod openapi;
pub mod pages;
pub mod router;
pub mod routes;
pub mod store;

#[cfg(test)]
mod layering;

use wasm_bindgen::JsValue;
use worker::{
    event, Context, Env, MessageBatch, Request, Response, Result, ScheduleContext, ScheduledEvent,
};

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> Result<Response> {
    router::handle(req, env, ctx).await
}

#[event(queue)]
async fn queue(batch: MessageBatch<JsValue>, env: Env, _ctx: Context) -> Result<()> {
    jobs::consumer::consume(batch, env).await;
    Ok(())
}

#[event(scheduled)]
async fn scheduled(event: ScheduledEvent, env: Env, _ctx: ScheduleContext) {
    jobs::cron::run(&env, &event.cron()).await;
}
