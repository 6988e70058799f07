//! Keeping segments current: contact changes re-evaluate every live segment for the contacts of a
//! queue batch (writing only differences), and rebuilds recompute a segment set-based, chunk by
//! chunk, re-enqueueing themselves until done. Both are idempotent under redelivery.

use std::collections::BTreeSet;

use crate::store::Db;
use chrono::{DateTime, Utc};
use worker::Env;

use crate::config::chunk_rows;
use crate::domain::segment::{
    profiling_segments, temperature, Audience, CompiledRule, SegmentRule, TemperatureThresholds,
};
use crate::domain::time;
use crate::domain::webhook::EventType;
use crate::error::AppResult;
use crate::jobs::delivery::Outcome;
use crate::jobs::{enqueue, message::Job};
use crate::store;
use crate::store::{segments, webhooks};

/// Contacts per set-based rebuild statement pair.
const REBUILD_CHUNK: usize = 2000;
/// Wall time one rebuild message may spend before handing the rest to the next message, so one
/// rebuild does not hold the database's only writer for long. The work is D1's (set-based SQL),
/// so the Worker's own CPU time stays far below its limit.
const REBUILD_BUDGET_MS: i64 = 8000;
/// D1 calls per rebuild chunk: where the chunk ends, then its statements in one batch.
const QUERIES_PER_CHUNK: u32 = 2;
/// Rows per multi-row membership insert (two bindings per row besides the segment and time).
const MEMBERS_PER_STATEMENT: usize = 90;

/// A live segment with its rule compiled once for this run.
struct Live {
    row: segments::SegmentRow,
    rule: CompiledRule,
    audience: Audience,
}

/// Live segments, each after every segment its rule names, so memberships it reads are fresh.
fn in_dependency_order(rows: Vec<segments::SegmentRow>, now: DateTime<Utc>) -> Vec<Live> {
    let mut parsed: Vec<(segments::SegmentRow, SegmentRule)> = rows
        .into_iter()
        .filter_map(|row| match row.rule() {
            Ok(rule) => Some((row, rule)),
            Err(e) => {
                worker::console_error!("segments: {} has an unreadable rule: {e:?}", row.id);
                None
            }
        })
        .collect();
    let profiling = profiling_segments(parsed.iter().map(|(row, rule)| (row.id.as_str(), rule)));
    let mut ordered = Vec::new();
    let mut placed: BTreeSet<String> = BTreeSet::new();
    while !parsed.is_empty() {
        let known: BTreeSet<String> = parsed.iter().map(|(r, _)| r.id.clone()).collect();
        let ready: Vec<usize> = (0..parsed.len())
            .filter(|&i| {
                parsed[i]
                    .1
                    .referenced_segments()
                    .iter()
                    .all(|dep| placed.contains(dep) || !known.contains(dep))
            })
            .collect();
        // A cycle cannot be saved, but if one appears, evaluate what remains in any order.
        let take = if ready.is_empty() { vec![0] } else { ready };
        for i in take.into_iter().rev() {
            let (row, rule) = parsed.remove(i);
            placed.insert(row.id.clone());
            ordered.push(Live {
                rule: rule.compile(now),
                audience: Audience::of(&rule, &row.purpose, &profiling),
                row,
            });
        }
    }
    ordered
}

/// `ContactChanged` for a batch: refresh temperature, then re-evaluate every live segment.
pub async fn contacts_changed(env: &Env, db: &Db, ids: &[String]) -> AppResult<()> {
    let ids: Vec<String> = ids
        .iter()
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    let now = time::now();
    let at = time::format(now);
    let mut facts = segments::facts_for(db, &ids).await?;
    let thresholds = TemperatureThresholds::default();
    let mut statements = Vec::new();
    for f in &mut facts {
        let warmth = temperature(f, now, &thresholds).as_str();
        if f.temperature != warmth {
            statements.push(segments::set_temperature_statement(db, &f.id, warmth, &at)?);
            f.temperature = warmth.to_string();
        }
    }
    let live = in_dependency_order(segments::list(db).await?, now);
    for segment in &live {
        let mut joins = Vec::new();
        let mut leaves = Vec::new();
        for f in &mut facts {
            let member = segment.rule.is_member(&segment.audience, f);
            let was = f.segments.contains(&segment.row.id);
            if member && !was {
                joins.push(f.id.clone());
                f.segments.insert(segment.row.id.clone());
            } else if !member && was {
                leaves.push(f.id.clone());
                f.segments.remove(&segment.row.id);
            }
        }
        if joins.is_empty() && leaves.is_empty() {
            continue;
        }
        statements.extend(membership_statements(
            db,
            &segment.row.id,
            (&joins, &leaves),
            chunk_rows(env, MEMBERS_PER_STATEMENT),
            &at,
        )?);
    }
    if !statements.is_empty() {
        store::batch(db, statements).await?;
    }
    Ok(())
}

fn membership_statements(
    db: &Db,
    segment_id: &str,
    (joins, leaves): (&[String], &[String]),
    per_statement: usize,
    at: &str,
) -> AppResult<Vec<worker::D1PreparedStatement>> {
    let mut statements = Vec::new();
    for chunk in joins.chunks(per_statement) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        statements.push(segments::add_members_statement(db, segment_id, &ids, at)?);
        statements.push(webhooks::emit_membership_statement(
            db,
            EventType::SegmentEntered,
            segment_id,
            &ids,
            at,
        )?);
        statements.push(segments::follow_size_statement(db, segment_id, true)?);
    }
    for chunk in leaves.chunks(per_statement) {
        let ids: Vec<&str> = chunk.iter().map(String::as_str).collect();
        statements.push(webhooks::emit_membership_statement(
            db,
            EventType::SegmentExited,
            segment_id,
            &ids,
            at,
        )?);
        statements.push(segments::remove_members_statement(db, segment_id, &ids)?);
        statements.push(segments::follow_size_statement(db, segment_id, false)?);
    }
    Ok(statements)
}

/// `SegmentRebuild`: recompute chunks after `cursor` until done or out of budget (time, or the
/// invocation's D1 queries), then hand the rest to a new message. A message for a replaced or deleted segment is dropped.
pub async fn rebuild_chunk(
    env: &Env,
    db: &Db,
    id: &str,
    version: i64,
    cursor: &str,
) -> AppResult<Outcome> {
    let Some(row) = segments::find(db, id).await? else {
        return Ok(Outcome::Done);
    };
    if row.version != version {
        return Ok(Outcome::Done);
    }
    let rule = row.rule()?;
    let audience = segments::audience(db, &rule, &row.purpose).await?;
    let chunk = chunk_rows(env, REBUILD_CHUNK) as u32;
    let started = time::now();
    let mut cursor = cursor.to_string();
    loop {
        let now = time::now();
        let end = segments::chunk_end(db, &cursor, chunk).await?;
        let mut statements = segments::rebuild_chunk_statements(
            db,
            &row,
            &rule,
            &audience,
            &cursor,
            end.as_deref(),
            now,
        )?;
        if end.is_none() {
            // Counting once at the end: a count per chunk would read the members again and again.
            statements.push(segments::refresh_size_statement(
                db,
                &row.id,
                version,
                true,
                &time::format(now),
            )?);
        }
        store::batch(db, statements).await?;
        match end {
            None => {
                // The memberships this build moved go out as events.
                crate::jobs::webhooks::fan_out(env, db).await?;
                return Ok(Outcome::Done);
            }
            Some(next) => cursor = next,
        }
        // Out of time or out of queries (the invocation's D1 budget): the rest is a new message.
        if (time::now() - started).num_milliseconds() > REBUILD_BUDGET_MS
            || db.budget().remaining() < QUERIES_PER_CHUNK
        {
            crate::jobs::webhooks::fan_out(env, db).await?;
            enqueue(
                env,
                Job::SegmentRebuild {
                    id: row.id.clone(),
                    version,
                    cursor,
                },
            )
            .await?;
            return Ok(Outcome::Done);
        }
    }
}
