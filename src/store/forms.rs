//! `forms`: signup form definitions, stored as normalized JSON.

use crate::store::Db;
use serde::Deserialize;
use worker::D1PreparedStatement;

use crate::domain::form::{FormDefinition, FormInput};
use crate::domain::secret;
use crate::error::{AppError, AppResult};
use crate::store::{all, first, statement, Arg};

#[derive(Debug, Deserialize)]
pub struct FormRow {
    pub id: String,
    pub name: String,
    pub definition: String,
    pub created_at: String,
    pub updated_at: String,
}

/// A new form's id (`frm_…`).
pub fn new_form_id() -> String {
    secret::new_id("frm")
}

impl FormRow {
    /// The stored definition, validated again as a whole: one that no longer passes is a
    /// server error, never a form served half-checked.
    pub fn parse_definition(&self) -> AppResult<FormDefinition> {
        let input: FormInput = serde_json::from_str(&self.definition)?;
        FormDefinition::parse(input)
            .map_err(|_| AppError::internal("stored form", "definition no longer valid"))
    }
}

pub fn insert_statement(
    db: &Db,
    id: &str,
    name: &str,
    definition: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "INSERT INTO forms (id, name, definition, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)",
        &[Arg::Text(id), Arg::Text(name), Arg::Text(definition), Arg::Text(at)],
    )
}

pub fn update_statement(
    db: &Db,
    id: &str,
    name: &str,
    definition: &str,
    at: &str,
) -> AppResult<D1PreparedStatement> {
    statement(
        db,
        "UPDATE forms SET name = ?2, definition = ?3, updated_at = ?4 WHERE id = ?1 AND archived_at IS NULL",
        &[Arg::Text(id), Arg::Text(name), Arg::Text(definition), Arg::Text(at)],
    )
}

const FIND_SQL: &str = "SELECT id, name, definition, created_at, updated_at FROM forms WHERE id = ?1 AND archived_at IS NULL";

pub async fn find(db: &Db, id: &str) -> AppResult<Option<FormRow>> {
    first(db, FIND_SQL, &[Arg::Text(id)]).await
}

/// [`find`] as a statement, for a read batch.
pub fn find_statement(db: &Db, id: &str) -> AppResult<D1PreparedStatement> {
    statement(db, FIND_SQL, &[Arg::Text(id)])
}

/// The form in a result of [`find_statement`].
pub fn found(result: &worker::D1Result) -> AppResult<Option<FormRow>> {
    crate::store::decode_first(result)
}

pub async fn list(db: &Db) -> AppResult<Vec<FormRow>> {
    all(
        db,
        "SELECT id, name, definition, created_at, updated_at FROM forms WHERE archived_at IS NULL ORDER BY created_at DESC",
        &[],
    )
    .await
}
