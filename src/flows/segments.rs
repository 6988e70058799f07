//! Saved segments as a workflow: saving a rule (with its audit entry) starts the rebuild of its
//! members on the queue, and an export reads the members back page by page with their links.

use crate::store::Db;
use worker::Env;

use crate::config::Config;
use crate::domain::consent::Purpose;
use crate::domain::export::{csv_line, ndjson_line, ExportColumn, ExportRow};
use crate::domain::segment::{Audience, SegmentRule};
use crate::domain::{secret, time};
use crate::error::{AppError, AppResult};
use crate::flows::links::{self, ContactLinks, MailStream};
use crate::jobs::{enqueue, message::Job};
use crate::store::segments::{ExportMember, SegmentRow};
use crate::store::{self, audit, segments};

/// A segment as checked: its rule parsed, its purpose known, every segment it names existing.
pub struct SegmentSpec {
    pub name: String,
    pub rule: SegmentRule,
    pub purpose: Purpose,
}

/// Saves a new segment and starts building its members.
pub async fn create(env: &Env, db: &Db, actor: &str, spec: &SegmentSpec) -> AppResult<SegmentRow> {
    let id = secret::new_id("seg");
    let at = time::now_string();
    store::batch(
        db,
        vec![
            segments::insert_statement(
                db,
                &id,
                &spec.name,
                &spec.rule.to_json().to_string(),
                spec.purpose.as_str(),
                &at,
            )?,
            audit::record(db, actor, "segment.create", Some(&id))?,
        ],
    )
    .await?;
    start_rebuild(env, &id, 1).await;
    segments::find(db, &id).await?.ok_or(AppError::NotFound)
}

/// A new rule is a new version: the members are rebuilt and older rebuilds stop.
pub async fn replace(
    env: &Env,
    db: &Db,
    actor: &str,
    id: &str,
    spec: &SegmentSpec,
) -> AppResult<SegmentRow> {
    store::batch(
        db,
        vec![
            segments::replace_statement(
                db,
                id,
                &spec.name,
                &spec.rule.to_json().to_string(),
                spec.purpose.as_str(),
                &time::now_string(),
            )?,
            audit::record(db, actor, "segment.update", Some(id))?,
        ],
    )
    .await?;
    let row = segments::find(db, id).await?.ok_or(AppError::NotFound)?;
    start_rebuild(env, id, row.version).await;
    Ok(row)
}

/// Deletes a live segment at once (a segment already gone is not found); its memberships are
/// purged afterwards by the queue, a bounded chunk per message.
pub async fn delete(env: &Env, db: &Db, actor: &str, id: &str) -> AppResult<()> {
    segments::find(db, id).await?.ok_or(AppError::NotFound)?;
    store::batch(
        db,
        vec![
            segments::soft_delete_statement(db, id, &time::now_string())?,
            audit::record(db, actor, "segment.delete", Some(id))?,
        ],
    )
    .await?;
    let job = Job::SegmentPurge { id: id.to_string() };
    if let Err(e) = enqueue(env, job).await {
        // The rows count for nothing already; `jobs::segment_purge::resume_lost` restarts it.
        worker::console_error!("segments: enqueue purge failed: {e:?}");
    }
    Ok(())
}

async fn start_rebuild(env: &Env, id: &str, version: i64) {
    let job = Job::SegmentRebuild {
        id: id.to_string(),
        version,
        cursor: String::new(),
    };
    if let Err(e) = enqueue(env, job).await {
        // The daily cron restarts segments left `building`.
        worker::console_error!("segments: enqueue rebuild failed: {e:?}");
    }
}

/// One segment's members as CSV lines or NDJSON, a keyset page at a time.
pub struct MemberExport {
    pub db: Db,
    pub config: Config,
    pub segment_id: String,
    /// The segment's purpose and whether its rule profiles: members are checked again on
    /// every page.
    pub audience: Audience,
    pub columns: Vec<ExportColumn>,
    pub ndjson: bool,
    pub page_size: usize,
}

impl MemberExport {
    /// The bytes of the page after `after`, and the cursor of the next page (none at the end).
    pub async fn page(&self, after: &str) -> AppResult<(Vec<u8>, Option<String>)> {
        let (bytes, next, _) = self.page_counted(after).await?;
        Ok((bytes, next))
    }

    /// [`page`](Self::page) and how many rows it holds (a CSV row may span lines).
    pub async fn page_counted(&self, after: &str) -> AppResult<(Vec<u8>, Option<String>, usize)> {
        let members = segments::export_page(
            &self.db,
            &self.segment_id,
            &self.audience,
            after,
            self.page_size as u32,
        )
        .await?;
        let next = (members.len() == self.page_size)
            .then(|| members.last().map(|m| m.contact_id.clone()))
            .flatten();
        // Signed only when asked for by name: they are merge fields for the shop's own
        // mailings and manage consents only (a preferences link opens no account).
        let wants_links = self.columns.iter().any(|c| {
            matches!(
                c,
                ExportColumn::PreferencesUrl | ExportColumn::UnsubscribeUrl
            )
        });
        let rows = members.len();
        let mut out = String::new();
        for m in members {
            let links = if wants_links {
                self.links(&m)
            } else {
                ContactLinks {
                    unsubscribe_url: String::new(),
                    preferences_url: String::new(),
                }
            };
            let row = export_row(m, links);
            if self.ndjson {
                out.push_str(&ndjson_line(&self.columns, &row));
            } else {
                out.push_str(&csv_line(&self.columns, &row));
            }
        }
        Ok((out.into_bytes(), next, rows))
    }

    /// The unsubscribe link withdraws the segment's own purpose; purposes without a one-click
    /// link of their own (sms, …) get none: the preferences link manages all.
    fn links(&self, m: &ExportMember) -> ContactLinks {
        let stream = MailStream::for_purpose(&self.audience.purpose);
        let l = links::for_contact(
            &self.config,
            &m.contact_id,
            m.link_epoch,
            stream.unwrap_or(MailStream::Marketing),
        );
        ContactLinks {
            unsubscribe_url: if stream.is_some() {
                l.unsubscribe_url
            } else {
                String::new()
            },
            preferences_url: l.preferences_url,
        }
    }
}

fn export_row(m: ExportMember, links: ContactLinks) -> ExportRow {
    ExportRow {
        contact_id: m.contact_id,
        email: m.email,
        name: m.fields.name,
        phone: m.fields.phone,
        locale: m.fields.locale,
        country: m.fields.country,
        city: m.fields.city,
        gender: m.fields.gender,
        birth_date: m.fields.birth_date,
        preferred_channel: m.preferred_channel,
        created_at: m.created_at,
        temperature: m.temperature,
        order_count: m.order_count,
        total_spent_cents: m.total_spent_cents,
        last_order_at: m.last_order_at,
        last_nps: m.last_nps,
        nps_category: m.nps_category,
        preferences_url: links.preferences_url,
        unsubscribe_url: links.unsubscribe_url,
        frequency: m.frequency,
        objects_to_profiling: m.objects_to_profiling == 1,
    }
}
