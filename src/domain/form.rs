//! Signup forms: the definition a marketer writes (validated once, stored normalized), the public
//! view the widget renders, and a visitor's submission parsed against the definition.

use std::collections::{BTreeMap, BTreeSet};

use chrono::NaiveDate;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

use crate::domain::consent::{notice_hash, Purpose};
use crate::domain::contact;
use crate::domain::email::EmailAddress;
use crate::domain::i18n::{pick, Locale};
use crate::domain::validate::{printable, shown_key, valid_key, FieldErrors};

/// Keys that fill `contacts` columns; every other field key is a custom attribute.
pub const STANDARD_KEYS: [&str; 8] = [
    "email",
    "name",
    "phone",
    "locale",
    "country",
    "city",
    "birth_date",
    "gender",
];

const MAX_FIELDS: usize = 40;
const MAX_CONSENTS: usize = 10;
const MAX_OPTIONS: usize = 50;
const DEFAULT_TEXT_LEN: u32 = 200;
const MAX_TEXT_LEN: u32 = 2000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldType {
    Email,
    Text,
    Phone,
    Date,
    Number,
    SingleChoice,
    MultiChoice,
    Checkbox,
}

/// A form definition as the admin API receives it (and as it is stored, normalized).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FormInput {
    pub name: String,
    #[serde(default)]
    pub allowed_origins: Vec<String>,
    #[serde(default)]
    pub locale: Option<String>,
    #[serde(default = "default_true")]
    pub double_opt_in: bool,
    #[serde(default)]
    pub redirect_url: Option<String>,
    #[serde(default)]
    pub turnstile_site_key: Option<String>,
    pub fields: Vec<FieldInput>,
    #[serde(default)]
    pub consents: Vec<ConsentInput>,
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldInput {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub label: BTreeMap<String, String>,
    #[serde(default)]
    pub max_len: Option<u32>,
    #[serde(default)]
    pub options: Option<Vec<String>>,
    #[serde(default)]
    pub min: Option<f64>,
    #[serde(default)]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsentInput {
    pub purpose: String,
    #[serde(default)]
    pub required: bool,
    pub policy_version: String,
    pub text: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldDef {
    pub key: String,
    #[serde(rename = "type")]
    pub kind: FieldType,
    pub required: bool,
    pub label: BTreeMap<String, String>,
    pub max_len: Option<u32>,
    pub options: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConsentBlock {
    pub purpose: Purpose,
    pub required: bool,
    pub policy_version: String,
    pub text: BTreeMap<String, String>,
}

impl Serialize for Purpose {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

/// A validated form definition. Serializes back to the `FormInput` shape.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FormDefinition {
    pub name: String,
    pub allowed_origins: Vec<String>,
    pub locale: Option<String>,
    pub double_opt_in: bool,
    pub redirect_url: Option<String>,
    pub turnstile_site_key: Option<String>,
    pub fields: Vec<FieldDef>,
    pub consents: Vec<ConsentBlock>,
}

fn valid_locale_tag(tag: &str) -> bool {
    (2..=35).contains(&tag.len())
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `scheme://host[:port]` for http(s), lower-cased, no path: what a browser sends as `Origin`.
pub fn parse_origin(input: &str) -> Option<String> {
    let lowered = input.trim().to_ascii_lowercase();
    let rest = lowered
        .strip_prefix("https://")
        .or_else(|| lowered.strip_prefix("http://"))?;
    let host_port = rest.strip_suffix('/').unwrap_or(rest);
    let (host, port) = match host_port.rsplit_once(':') {
        Some((h, p)) if !h.contains(']') || h.ends_with(']') => (h, Some(p)),
        _ => (host_port, None),
    };
    let host_ok = !host.is_empty()
        && host.len() <= 253
        && host.chars().all(|c| {
            c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '[' || c == ']' || c == ':'
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|n| n > 0));
    (host_ok && port_ok).then(|| {
        let scheme = if lowered.starts_with("https://") {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://{host_port}")
    })
}

/// An absolute http(s) URL without spaces or control characters.
pub fn valid_redirect(url: &str) -> bool {
    url.len() <= 500
        && (url.starts_with("https://") || url.starts_with("http://"))
        && url.len() > "https://".len()
        && !url
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || c == '"' || c == '<' || c == '>')
}

fn check_texts(
    errors: &mut FieldErrors,
    path: &str,
    texts: &BTreeMap<String, String>,
    max: usize,
    required: bool,
) {
    if required && texts.is_empty() {
        errors.insert(path.into(), "at least one text is required".into());
    }
    if texts.len() > 10 {
        errors.insert(path.into(), "at most 10 locales".into());
    }
    for (tag, text) in texts {
        if !valid_locale_tag(tag) {
            errors.insert(
                format!("{path}.{}", tag.chars().take(35).collect::<String>()),
                "not a locale tag".into(),
            );
        } else if text.trim().is_empty() || text.chars().count() > max || !printable(text) {
            errors.insert(
                format!("{path}.{tag}"),
                format!("1 to {max} printable characters"),
            );
        }
    }
}

impl FormDefinition {
    pub fn parse(input: FormInput) -> Result<FormDefinition, FieldErrors> {
        let mut errors = FieldErrors::new();
        let name = input.name.trim().to_string();
        if name.is_empty() || name.chars().count() > 100 || !printable(&name) {
            errors.insert("name".into(), "1 to 100 printable characters".into());
        }
        let mut origins = Vec::new();
        if input.allowed_origins.len() > 20 {
            errors.insert("allowed_origins".into(), "at most 20 origins".into());
        }
        for (i, o) in input.allowed_origins.iter().enumerate() {
            match parse_origin(o) {
                Some(origin) if !origins.contains(&origin) => origins.push(origin),
                Some(_) => {}
                None => {
                    errors.insert(
                        format!("allowed_origins[{i}]"),
                        "an origin such as https://shop.example".into(),
                    );
                }
            }
        }
        let locale = match input.locale.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(tag) => match Locale::from_tag(tag) {
                Some(l) => Some(l.tag().to_string()),
                None => {
                    errors.insert("locale".into(), "one of en, pt-BR, ro, ru".into());
                    None
                }
            },
        };
        let redirect_url = input
            .redirect_url
            .map(|u| u.trim().to_string())
            .filter(|u| !u.is_empty());
        if redirect_url.as_deref().is_some_and(|u| !valid_redirect(u)) {
            errors.insert("redirect_url".into(), "an absolute http(s) URL".into());
        }
        let turnstile_site_key = input
            .turnstile_site_key
            .map(|k| k.trim().to_string())
            .filter(|k| !k.is_empty());
        if turnstile_site_key.as_deref().is_some_and(|k| {
            k.len() > 100
                || !k
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }) {
            errors.insert("turnstile_site_key".into(), "a Turnstile site key".into());
        }
        let fields = parse_fields(&input.fields, &mut errors);
        let consents = parse_consents(&input.consents, &mut errors);
        if errors.is_empty() {
            Ok(FormDefinition {
                name,
                allowed_origins: origins,
                locale,
                double_opt_in: input.double_opt_in,
                redirect_url,
                turnstile_site_key,
                fields,
                consents,
            })
        } else {
            Err(errors)
        }
    }

    pub fn locale(&self) -> Option<Locale> {
        self.locale.as_deref().and_then(Locale::from_tag)
    }

    pub fn allows_origin(&self, origin: &str) -> bool {
        parse_origin(origin).is_some_and(|o| self.allowed_origins.contains(&o))
    }

    pub fn field(&self, key: &str) -> Option<&FieldDef> {
        self.fields.iter().find(|f| f.key == key)
    }

    /// The name of the hidden trap input: `website`, unless the form uses that key itself.
    pub fn honeypot_field(&self) -> &'static str {
        ["website", "homepage", "company_url"]
            .into_iter()
            .find(|k| self.field(k).is_none())
            .unwrap_or("hp_trap")
    }

    /// What the widget and anyone on the internet may see: no origins, nothing internal.
    pub fn public_view(&self, id: &str, base_url: &str) -> Value {
        json!({
            "id": id,
            "name": self.name,
            "locale": self.locale,
            "double_opt_in": self.double_opt_in,
            "submit_url": format!("{base_url}/v1/forms/{id}/submissions"),
            "redirect_url": self.redirect_url,
            "honeypot_field": self.honeypot_field(),
            "turnstile_site_key": self.turnstile_site_key,
            "fields": self.fields.iter().map(|f| json!({
                "key": f.key, "type": f.kind, "required": f.required, "label": f.label,
                "max_len": f.max_len, "options": f.options,
            })).collect::<Vec<_>>(),
            "consents": self.consents,
        })
    }
}

fn parse_fields(inputs: &[FieldInput], errors: &mut FieldErrors) -> Vec<FieldDef> {
    if inputs.len() > MAX_FIELDS {
        errors.insert("fields".into(), format!("at most {MAX_FIELDS} fields"));
    }
    let mut seen = BTreeSet::new();
    let mut fields = Vec::new();
    for (i, f) in inputs.iter().enumerate() {
        let path = format!("fields[{i}]");
        if !valid_key(&f.key) {
            errors.insert(
                format!("{path}.key"),
                "1 to 40 lower-case letters, digits or underscores".into(),
            );
            continue;
        }
        if !seen.insert(f.key.clone()) {
            errors.insert(format!("{path}.key"), "duplicate key".into());
        }
        let allowed: &[FieldType] = match f.key.as_str() {
            "email" => &[FieldType::Email],
            "birth_date" => &[FieldType::Date],
            "phone" => &[FieldType::Phone],
            "name" | "city" | "country" | "locale" => &[FieldType::Text, FieldType::SingleChoice],
            "gender" => &[FieldType::Text, FieldType::SingleChoice],
            _ => &[
                FieldType::Text,
                FieldType::Phone,
                FieldType::Date,
                FieldType::Number,
                FieldType::SingleChoice,
                FieldType::MultiChoice,
                FieldType::Checkbox,
            ],
        };
        if !allowed.contains(&f.kind) {
            errors.insert(
                format!("{path}.type"),
                format!("not allowed for the standard field '{}'", f.key),
            );
        }
        check_texts(errors, &format!("{path}.label"), &f.label, 200, false);
        let choice = matches!(f.kind, FieldType::SingleChoice | FieldType::MultiChoice);
        let options = match (&f.options, choice) {
            (Some(opts), true) => {
                let unique: BTreeSet<&String> = opts.iter().collect();
                if opts.is_empty() || opts.len() > MAX_OPTIONS || unique.len() != opts.len() {
                    errors.insert(
                        format!("{path}.options"),
                        format!("1 to {MAX_OPTIONS} distinct options"),
                    );
                } else if opts
                    .iter()
                    .any(|o| o.trim().is_empty() || o.chars().count() > 100 || !printable(o))
                {
                    errors.insert(
                        format!("{path}.options"),
                        "each option 1 to 100 printable characters".into(),
                    );
                }
                Some(opts.clone())
            }
            (None, true) => {
                errors.insert(
                    format!("{path}.options"),
                    "required for choice fields".into(),
                );
                None
            }
            (Some(_), false) => {
                errors.insert(
                    format!("{path}.options"),
                    "only choice fields have options".into(),
                );
                None
            }
            (None, false) => None,
        };
        let max_len = match f.kind {
            FieldType::Text => {
                let len = f.max_len.unwrap_or(DEFAULT_TEXT_LEN);
                if len == 0 || len > MAX_TEXT_LEN {
                    errors.insert(format!("{path}.max_len"), format!("1 to {MAX_TEXT_LEN}"));
                }
                Some(len)
            }
            FieldType::Email => Some(254),
            _ => {
                if f.max_len.is_some() {
                    errors.insert(
                        format!("{path}.max_len"),
                        "only text fields have max_len".into(),
                    );
                }
                None
            }
        };
        let bounds_ok = f.min.is_none_or(f64::is_finite) && f.max.is_none_or(f64::is_finite);
        if (f.min.is_some() || f.max.is_some()) && f.kind != FieldType::Number {
            errors.insert(
                format!("{path}.min"),
                "only number fields have min and max".into(),
            );
        } else if !bounds_ok || matches!((f.min, f.max), (Some(a), Some(b)) if a > b) {
            errors.insert(format!("{path}.min"), "min must not exceed max".into());
        }
        fields.push(FieldDef {
            key: f.key.clone(),
            kind: f.kind,
            required: f.required || f.key == "email",
            label: f.label.clone(),
            max_len,
            options,
            min: f.min,
            max: f.max,
        });
    }
    if !fields.iter().any(|f| f.key == "email") {
        errors.insert(
            "fields".into(),
            "an email field (key \"email\", type \"email\") is required".into(),
        );
    }
    fields
}

fn parse_consents(inputs: &[ConsentInput], errors: &mut FieldErrors) -> Vec<ConsentBlock> {
    if inputs.len() > MAX_CONSENTS {
        errors.insert(
            "consents".into(),
            format!("at most {MAX_CONSENTS} consents"),
        );
    }
    let mut seen = BTreeSet::new();
    let mut blocks = Vec::new();
    for (i, c) in inputs.iter().enumerate() {
        let path = format!("consents[{i}]");
        let purpose = match Purpose::parse(&c.purpose) {
            Ok(p) => p,
            Err(e) => {
                errors.insert(format!("{path}.purpose"), e.into());
                continue;
            }
        };
        if !seen.insert(purpose.clone()) {
            errors.insert(format!("{path}.purpose"), "duplicate purpose".into());
        }
        let version = c.policy_version.trim();
        if version.is_empty() || version.len() > 40 || !printable(version) {
            errors.insert(
                format!("{path}.policy_version"),
                "1 to 40 printable characters".into(),
            );
        }
        check_texts(errors, &format!("{path}.text"), &c.text, 2000, true);
        blocks.push(ConsentBlock {
            purpose,
            required: c.required,
            policy_version: version.to_string(),
            text: c.text.clone(),
        });
    }
    blocks
}

/// A submission as it arrives, before it is checked against the form.
#[derive(Debug, Clone, Default)]
pub struct SubmissionInput {
    pub fields: Map<String, Value>,
    pub consents: Map<String, Value>,
    pub turnstile_token: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SubmissionJson {
    #[serde(default)]
    pub fields: Map<String, Value>,
    #[serde(default)]
    pub consents: Map<String, Value>,
    #[serde(default)]
    pub turnstile_token: Option<String>,
}

impl From<SubmissionJson> for SubmissionInput {
    fn from(j: SubmissionJson) -> Self {
        SubmissionInput {
            fields: j.fields,
            consents: j.consents,
            turnstile_token: j.turnstile_token,
        }
    }
}

/// The address a raw submission names (its `email` field, which every form has), read before
/// its form is, so what is known about it can be looked up in the same read as the form. Only a
/// hint: the submission parsed against its form decides. A plain form post's last `email`
/// wins, as in [`SubmissionInput::from_pairs`].
pub fn named_email(body: &[u8], plain_form_post: bool) -> Option<EmailAddress> {
    let raw = if plain_form_post {
        url::form_urlencoded::parse(body)
            .filter(|(k, _)| k == "email")
            .last()
            .map(|(_, v)| v.into_owned())
    } else {
        let json: SubmissionJson = serde_json::from_slice(body).ok()?;
        json.fields.get("email")?.as_str().map(str::to_string)
    }?;
    EmailAddress::parse(&raw).ok()
}

fn truthy(v: &str) -> bool {
    matches!(v.to_ascii_lowercase().as_str(), "on" | "true" | "1" | "yes")
}

impl SubmissionInput {
    /// A plain HTML form post: `email=…&consent.marketing_email=on&cf-turnstile-response=…`,
    /// repeated keys for multi-choice fields.
    pub fn from_pairs(pairs: &[(String, String)], form: &FormDefinition) -> SubmissionInput {
        let mut input = SubmissionInput::default();
        for (k, v) in pairs {
            if k == "cf-turnstile-response" {
                input.turnstile_token = Some(v.clone());
            } else if let Some(purpose) = k.strip_prefix("consent.") {
                input
                    .consents
                    .insert(purpose.to_string(), Value::Bool(truthy(v)));
            } else {
                match form.field(k).map(|f| f.kind) {
                    Some(FieldType::MultiChoice) => {
                        let entry = input
                            .fields
                            .entry(k.clone())
                            .or_insert_with(|| Value::Array(vec![]));
                        if let Value::Array(items) = entry {
                            items.push(Value::String(v.clone()));
                        }
                    }
                    Some(FieldType::Checkbox) => {
                        input.fields.insert(k.clone(), Value::Bool(truthy(v)));
                    }
                    _ => {
                        input.fields.insert(k.clone(), Value::String(v.clone()));
                    }
                }
            }
        }
        input
    }

    /// A bot filled the hidden trap field: accept and drop silently.
    pub fn trips_honeypot(&self, form: &FormDefinition) -> bool {
        match self.fields.get(form.honeypot_field()) {
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(Value::Null) | None => false,
            Some(_) => true,
        }
    }
}

/// The contact columns a form can fill.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ContactFields {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub locale: Option<String>,
    pub country: Option<String>,
    pub city: Option<String>,
    pub birth_date: Option<String>,
    pub gender: Option<String>,
}

impl ContactFields {
    /// The names of the fields this holds (the ones a change sets), for events that say what
    /// changed without saying to what.
    pub fn names(&self) -> Vec<&'static str> {
        self.set().into_iter().map(|(k, _)| k).collect()
    }

    /// The columns this sets, each with its value (the ones `None` are kept as stored).
    pub fn set(&self) -> Vec<(&'static str, Option<&str>)> {
        [
            ("name", &self.name),
            ("phone", &self.phone),
            ("locale", &self.locale),
            ("country", &self.country),
            ("city", &self.city),
            ("birth_date", &self.birth_date),
            ("gender", &self.gender),
        ]
        .into_iter()
        .filter(|(_, v)| v.is_some())
        .map(|(k, v)| (k, v.as_deref()))
        .collect()
    }
}

/// A consent the visitor ticked, with the proof of what they saw.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GivenConsent {
    pub purpose: String,
    pub policy_version: String,
    pub notice_text_hash: String,
}

/// A submission that passed every check of its form.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub email: EmailAddress,
    pub contact: ContactFields,
    pub attributes: BTreeMap<String, Value>,
    pub consents: Vec<GivenConsent>,
}

impl Submission {
    /// Checks every field and consent against the form. `locale` is the one the visitor saw
    /// (it selects which consent text is hashed as proof); `today` bounds birth dates.
    pub fn parse(
        form: &FormDefinition,
        input: &SubmissionInput,
        locale: Locale,
        today: NaiveDate,
    ) -> Result<Submission, FieldErrors> {
        let mut errors = FieldErrors::new();
        let honeypot = form.honeypot_field();
        for key in input.fields.keys() {
            if key != honeypot && form.field(key).is_none() {
                errors.insert(shown_key(key), "unknown field".into());
            }
        }
        let mut email = None;
        let mut contact = ContactFields::default();
        let mut attributes = BTreeMap::new();
        for field in &form.fields {
            let raw = input.fields.get(&field.key).filter(|v| !is_blank(v));
            let Some(raw) = raw else {
                if field.required {
                    errors.insert(field.key.clone(), "required".into());
                }
                continue;
            };
            match parse_value(field, raw, today) {
                Err(problem) => {
                    errors.insert(field.key.clone(), problem);
                }
                Ok(Parsed::Email(e)) => email = Some(e),
                Ok(Parsed::Value(v)) => {
                    if field.kind == FieldType::Checkbox && field.required && v != Value::Bool(true)
                    {
                        errors.insert(field.key.clone(), "required".into());
                        continue;
                    }
                    let text = v.as_str().map(str::to_string);
                    match field.key.as_str() {
                        "name" => contact.name = text,
                        "phone" => contact.phone = text,
                        "city" => contact.city = text,
                        "gender" => contact.gender = text,
                        "birth_date" => contact.birth_date = text,
                        "country" => match text.as_deref().and_then(contact::country_code) {
                            Some(c) => contact.country = Some(c),
                            None => {
                                errors.insert("country".into(), "a two-letter country code".into());
                            }
                        },
                        "locale" => match text.as_deref().and_then(contact::locale_tag) {
                            Some(t) => contact.locale = Some(t),
                            None => {
                                errors
                                    .insert("locale".into(), "a language tag such as pt-BR".into());
                            }
                        },
                        _ => {
                            attributes.insert(field.key.clone(), v);
                        }
                    }
                }
            }
        }
        let mut consents = Vec::new();
        for key in input.consents.keys() {
            if !form.consents.iter().any(|c| c.purpose.as_str() == key) {
                errors.insert(
                    format!("consent.{}", key.chars().take(40).collect::<String>()),
                    "unknown consent".into(),
                );
            }
        }
        for block in &form.consents {
            let path = format!("consent.{}", block.purpose);
            let granted = match input.consents.get(block.purpose.as_str()) {
                None | Some(Value::Null) => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    errors.insert(path, "true or false".into());
                    continue;
                }
            };
            if block.required && !granted {
                errors.insert(path, "required".into());
            } else if granted {
                let shown = pick(&block.text, locale).map(|(_, t)| t).unwrap_or("");
                consents.push(GivenConsent {
                    purpose: block.purpose.as_str().to_string(),
                    policy_version: block.policy_version.clone(),
                    notice_text_hash: notice_hash(shown),
                });
            }
        }
        match (email, errors.is_empty()) {
            (Some(email), true) => Ok(Submission {
                email,
                contact,
                attributes,
                consents,
            }),
            _ => Err(errors),
        }
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

enum Parsed {
    Email(EmailAddress),
    Value(Value),
}

fn parse_value(field: &FieldDef, raw: &Value, today: NaiveDate) -> Result<Parsed, String> {
    let as_text = || {
        raw.as_str()
            .map(str::trim)
            .ok_or_else(|| "must be text".to_string())
    };
    match field.kind {
        FieldType::Email => {
            let s = raw.as_str().ok_or("must be text")?;
            EmailAddress::parse(s)
                .map(Parsed::Email)
                .map_err(|e| e.message().to_string())
        }
        FieldType::Text => {
            let s = as_text()?;
            let max = field.max_len.unwrap_or(DEFAULT_TEXT_LEN) as usize;
            if s.chars().count() > max {
                Err(format!("at most {max} characters"))
            } else if !printable(s) {
                Err("contains invalid characters".into())
            } else {
                Ok(Parsed::Value(Value::String(s.to_string())))
            }
        }
        FieldType::Phone => contact::phone(as_text()?)
            .map(|p| Parsed::Value(Value::String(p)))
            .ok_or_else(|| "a phone number such as +55 11 91234-5678".to_string()),
        FieldType::Date => {
            let s = as_text()?;
            if field.key == "birth_date" {
                return contact::birth_date(s, today)
                    .map(|d| Parsed::Value(Value::String(d)))
                    .ok_or_else(|| "a birth date in the past, as YYYY-MM-DD".to_string());
            }
            let date = NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| "a date as YYYY-MM-DD".to_string())?;
            Ok(Parsed::Value(Value::String(
                date.format("%Y-%m-%d").to_string(),
            )))
        }
        FieldType::Number => {
            let n = match raw {
                Value::Number(n) => n.as_f64(),
                Value::String(s) => s.trim().parse::<f64>().ok(),
                _ => None,
            }
            .filter(|n| n.is_finite() && n.abs() < 1e15)
            .ok_or("must be a number")?;
            if field.min.is_some_and(|m| n < m) || field.max.is_some_and(|m| n > m) {
                return Err(match (field.min, field.max) {
                    (Some(a), Some(b)) => format!("a number from {a} to {b}"),
                    (Some(a), None) => format!("at least {a}"),
                    (_, Some(b)) => format!("at most {b}"),
                    _ => "out of range".into(),
                });
            }
            Ok(Parsed::Value(json!(n)))
        }
        FieldType::SingleChoice => {
            let s = as_text()?;
            let options = field.options.as_deref().unwrap_or(&[]);
            if options.iter().any(|o| o == s) {
                Ok(Parsed::Value(Value::String(s.to_string())))
            } else {
                Err("not one of the options".into())
            }
        }
        FieldType::MultiChoice => {
            let items = match raw {
                Value::Array(items) => items.clone(),
                Value::String(_) => vec![raw.clone()],
                _ => return Err("a list of options".into()),
            };
            let options = field.options.as_deref().unwrap_or(&[]);
            let mut chosen = BTreeSet::new();
            for item in &items {
                match item.as_str() {
                    Some(s) if options.iter().any(|o| o == s) => {
                        chosen.insert(s.to_string());
                    }
                    _ => return Err("not one of the options".into()),
                }
            }
            // Keep the form's option order, not the submission's.
            let ordered: Vec<Value> = options
                .iter()
                .filter(|o| chosen.contains(*o))
                .map(|o| Value::String(o.clone()))
                .collect();
            Ok(Parsed::Value(Value::Array(ordered)))
        }
        FieldType::Checkbox => match raw {
            Value::Bool(b) => Ok(Parsed::Value(Value::Bool(*b))),
            Value::String(s) => Ok(Parsed::Value(Value::Bool(truthy(s)))),
            _ => Err("true or false".into()),
        },
    }
}

#[cfg(test)]
mod tests;
