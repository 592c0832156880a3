//! Accounts, role grants, single-use e-mailed links and API tokens.
//!
//! Scoped like `org`: listing or fetching accounts goes through [`Access::filter`] for
//! [`Perm::ViewMembers`] over the account's grants. Authentication lookups (by e-mail, by token) are
//! the only unscoped reads, and they return no more than what is needed to authenticate.

use serde::Serialize;

use crate::access::{Access, Grant, Perm, Role, Scope};
use crate::db::{Db, now};
use crate::error::{Error, Result, is_unique_violation};

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub disabled: i64,
    pub totp_enabled: i64,
    pub created_at: i64,
    pub last_login_at: Option<i64>,
    /// 1 once the user has a password (an invitation not yet accepted has none).
    pub active: i64,
}

impl User {
    pub fn is_disabled(&self) -> bool {
        self.disabled != 0
    }
}

const USER_COLUMNS: &str = "u.id, u.email, u.display_name, u.disabled, u.totp_enabled, u.created_at, u.last_login_at, \
     CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END AS active";

/// What authentication needs about an account.
#[derive(Clone, Debug, sqlx::FromRow)]
pub struct Credentials {
    pub id: i64,
    pub email: String,
    pub password_hash: Option<String>,
    pub disabled: i64,
    pub totp_secret: Option<String>,
    pub totp_enabled: i64,
}

pub async fn credentials_by_email(db: &Db, email: &str) -> Result<Option<Credentials>> {
    Ok(sqlx::query_as(
        "SELECT id, email, password_hash, disabled, totp_secret, totp_enabled FROM users WHERE email = $1",
    )
    .bind(email)
    .fetch_optional(&db.pool)
    .await?)
}

pub async fn credentials_by_id(db: &Db, id: i64) -> Result<Option<Credentials>> {
    Ok(sqlx::query_as("SELECT id, email, password_hash, disabled, totp_secret, totp_enabled FROM users WHERE id = $1")
        .bind(id)
        .fetch_optional(&db.pool)
        .await?)
}

/// The grants of a user: what they may do.
pub async fn access_for(db: &Db, user_id: i64) -> Result<Access> {
    let rows: Vec<(i64, String, Option<i64>, Option<i64>)> =
        sqlx::query_as("SELECT id, role, federation_id, section_id FROM role_grants WHERE user_id = $1 ORDER BY id")
            .bind(user_id)
            .fetch_all(&db.pool)
            .await?;
    let grants = rows
        .into_iter()
        .filter_map(|(id, role, f, s)| Some(Grant { id, role: Role::parse(&role)?, scope: Scope::from_ids(f, s) }))
        .collect();
    Ok(Access { user_id, grants })
}

/// Condition selecting accounts the caller may see: their own, and those holding a grant in scope.
fn visible(access: &Access) -> String {
    let grants = access.filter(Perm::ViewMembers, "g.federation_id", Some("g.section_id"));
    format!("(u.id = {} OR EXISTS (SELECT 1 FROM role_grants g WHERE g.user_id = u.id AND {grants}))", access.user_id)
}

/// An account the caller may see, or `NotFound`.
pub async fn get(db: &Db, access: &Access, id: i64) -> Result<User> {
    let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.id = $1 AND {}", visible(access));
    sqlx::query_as(&sql).bind(id).fetch_optional(&db.pool).await?.ok_or(Error::NotFound)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct UserRow {
    pub id: i64,
    pub email: String,
    pub display_name: String,
    pub disabled: i64,
    pub active: i64,
    /// Comma-separated role codes held (all scopes).
    pub roles: String,
}

impl UserRow {
    pub fn role_labels(&self) -> String {
        let mut labels: Vec<&str> = self.roles.split(',').filter_map(Role::parse).map(Role::label).collect();
        labels.dedup();
        labels.join(", ")
    }
}

/// Accounts the caller may see, optionally only those with a grant in one federation, and a search.
pub async fn list(db: &Db, access: &Access, federation_id: Option<i64>, search: &str) -> Result<Vec<UserRow>> {
    if !access.allows_somewhere(Perm::ViewMembers) {
        return Err(Error::Forbidden);
    }
    let in_fed = match federation_id {
        Some(f) => {
            format!("AND EXISTS (SELECT 1 FROM role_grants g2 WHERE g2.user_id = u.id AND g2.federation_id = {f})")
        }
        None => String::new(),
    };
    let sql = format!(
        "SELECT u.id, u.email, u.display_name, u.disabled, CASE WHEN u.password_hash IS NULL THEN 0 ELSE 1 END AS active, \
         COALESCE((SELECT {agg} FROM role_grants g3 WHERE g3.user_id = u.id), '') AS roles \
         FROM users u WHERE {vis} {in_fed} AND ($1 = '' OR LOWER(u.email) LIKE $2 OR LOWER(u.display_name) LIKE $2) \
         ORDER BY u.display_name LIMIT 500",
        agg = match db.backend {
            crate::db::Backend::Sqlite => "GROUP_CONCAT(g3.role, ',')",
            crate::db::Backend::Postgres => "STRING_AGG(g3.role, ',')",
        },
        vis = visible(access),
    );
    let q = search.trim().to_lowercase().replace(['%', '_'], "");
    Ok(sqlx::query_as(&sql).bind(&q).bind(format!("%{q}%")).fetch_all(&db.pool).await?)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct GrantRow {
    pub id: i64,
    pub role: String,
    pub federation_id: Option<i64>,
    pub federation_name: Option<String>,
    pub section_id: Option<i64>,
    pub section_name: Option<String>,
}

impl GrantRow {
    pub fn role_label(&self) -> &'static str {
        Role::parse(&self.role).map(Role::label).unwrap_or("?")
    }
    pub fn scope_label(&self) -> String {
        match (&self.federation_name, &self.section_name) {
            (Some(f), Some(s)) => format!("Section {s} — {f}"),
            (Some(f), None) => format!("Fédération {f}"),
            _ => "National".into(),
        }
    }
    pub fn scope(&self) -> Scope {
        Scope::from_ids(self.federation_id, self.section_id)
    }
}

/// The grants of a user the caller may see (obtained through [`get`]).
pub async fn grants(db: &Db, user: &User) -> Result<Vec<GrantRow>> {
    Ok(sqlx::query_as(
        "SELECT g.id, g.role, g.federation_id, f.name AS federation_name, g.section_id, s.name AS section_name \
         FROM role_grants g LEFT JOIN federations f ON f.id = g.federation_id LEFT JOIN sections s ON s.id = g.section_id \
         WHERE g.user_id = $1 ORDER BY g.id",
    )
    .bind(user.id)
    .fetch_all(&db.pool)
    .await?)
}

/// May the caller manage this account as a whole (disable it)? Only if it could grant every role the
/// account holds, and it is not the caller's own account.
pub fn can_manage(access: &Access, user: &User, grants: &[GrantRow]) -> bool {
    user.id != access.user_id
        && !grants.is_empty()
        && grants.iter().all(|g| Role::parse(&g.role).is_some_and(|r| access.can_grant(r, g.scope())))
}

/// Creates an account (no password: an invitation or a reset link sets it). E-mail must be normalised.
pub async fn create(db: &Db, email: &str, display_name: &str, password_hash: Option<&str>) -> Result<i64> {
    let t = now();
    sqlx::query_scalar(
        "INSERT INTO users (email, display_name, password_hash, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) RETURNING id",
    )
    .bind(email)
    .bind(display_name)
    .bind(password_hash)
    .bind(t)
    .fetch_one(&db.pool)
    .await
    .map_err(|e| if is_unique_violation(&e) { Error::Conflict("Un compte existe déjà avec cette adresse.".into()) } else { e.into() })
}

/// Resolves a (role, federation, section) request into a scope the caller may grant, checking that the
/// section belongs to the federation and that both exist within the caller's reach.
pub async fn resolve_scope(
    db: &Db,
    access: &Access,
    role: Role,
    federation_id: Option<i64>,
    section_id: Option<i64>,
) -> Result<Scope> {
    let scope = match (federation_id, section_id) {
        (_, Some(sid)) => {
            let section = crate::org::get_section(db, access, Perm::ManageUsers, sid).await?;
            Scope::Section { federation_id: section.federation_id, section_id: section.id }
        }
        (Some(fid), None) => {
            let f = crate::org::get_federation(db, access, Perm::ManageUsers, fid).await?;
            Scope::Federation { federation_id: f.id }
        }
        (None, None) => Scope::National,
    };
    if !access.can_grant(role, scope) {
        return Err(Error::Invalid(format!("Vous ne pouvez pas attribuer le rôle « {} » à ce niveau.", role.label())));
    }
    Ok(scope)
}

/// Grants a role (already checked with [`resolve_scope`]); granting twice is harmless.
pub async fn grant(db: &Db, user_id: i64, role: Role, scope: Scope, granted_by: Option<i64>) -> Result<()> {
    let r = sqlx::query(
        "INSERT INTO role_grants (user_id, role, federation_id, section_id, granted_by, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
    )
    .bind(user_id)
    .bind(role.as_str())
    .bind(scope.federation_id())
    .bind(scope.section_id())
    .bind(granted_by)
    .bind(now())
    .execute(&db.pool)
    .await;
    match r {
        Err(e) if is_unique_violation(&e) => Ok(()),
        other => other.map(|_| ()).map_err(Into::into),
    }
}

/// Grants a role (given by its code) at a place (given by ids) to an account the caller sees, with every
/// check: the caller manages users, is not changing their own roles, and may grant that role there.
pub async fn assign(
    db: &Db,
    access: &Access,
    user: &User,
    role: &str,
    federation_id: Option<i64>,
    section_id: Option<i64>,
) -> Result<(Role, Scope)> {
    if !access.allows_somewhere(Perm::ManageUsers) {
        return Err(Error::Forbidden);
    }
    if user.id == access.user_id {
        return Err(Error::Invalid("Vous ne pouvez pas modifier vos propres rôles.".into()));
    }
    let role = Role::parse(role).ok_or_else(|| Error::Invalid("Choisissez un rôle.".into()))?;
    let scope = resolve_scope(db, access, role, federation_id, section_id).await?;
    grant(db, user.id, role, scope, Some(access.user_id)).await?;
    Ok((role, scope))
}

/// Revokes one grant of a visible user, if the caller could have granted it.
pub async fn revoke(db: &Db, access: &Access, user: &User, grant_id: i64) -> Result<GrantRow> {
    if user.id == access.user_id {
        return Err(Error::Invalid("Vous ne pouvez pas modifier vos propres rôles.".into()));
    }
    let g = grants(db, user).await?.into_iter().find(|g| g.id == grant_id).ok_or(Error::NotFound)?;
    let role = Role::parse(&g.role).ok_or(Error::NotFound)?;
    if !access.can_grant(role, g.scope()) {
        return Err(Error::Forbidden);
    }
    sqlx::query("DELETE FROM role_grants WHERE id = $1 AND user_id = $2")
        .bind(grant_id)
        .bind(user.id)
        .execute(&db.pool)
        .await?;
    Ok(g)
}

/// Disables or re-enables an account; disabling ends its sessions at once.
pub async fn set_disabled(db: &Db, user_id: i64, disabled: bool) -> Result<()> {
    sqlx::query("UPDATE users SET disabled = $1, updated_at = $2 WHERE id = $3")
        .bind(disabled as i64)
        .bind(now())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    if disabled {
        crate::auth::session::delete_for_user(db, user_id).await?;
    }
    Ok(())
}

pub async fn set_password_hash(db: &Db, user_id: i64, hash: &str) -> Result<()> {
    sqlx::query("UPDATE users SET password_hash = $1, updated_at = $2 WHERE id = $3")
        .bind(hash)
        .bind(now())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn set_display_name(db: &Db, user_id: i64, name: &str) -> Result<()> {
    sqlx::query("UPDATE users SET display_name = $1, updated_at = $2 WHERE id = $3")
        .bind(name)
        .bind(now())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

pub async fn set_totp(db: &Db, user_id: i64, secret: Option<&str>, enabled: bool) -> Result<()> {
    sqlx::query("UPDATE users SET totp_secret = $1, totp_enabled = $2, updated_at = $3 WHERE id = $4")
        .bind(secret)
        .bind(enabled as i64)
        .bind(now())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Records the time step of an accepted TOTP code; false when that step (or a later one) was already used.
pub async fn use_totp_step(db: &Db, user_id: i64, step: i64) -> Result<bool> {
    let n = sqlx::query(
        "UPDATE users SET totp_last_step = $1 WHERE id = $2 AND (totp_last_step IS NULL OR totp_last_step < $1)",
    )
    .bind(step)
    .bind(user_id)
    .execute(&db.pool)
    .await?
    .rows_affected();
    Ok(n == 1)
}

pub async fn touch_login(db: &Db, user_id: i64) -> Result<()> {
    sqlx::query("UPDATE users SET last_login_at = $1 WHERE id = $2")
        .bind(now())
        .bind(user_id)
        .execute(&db.pool)
        .await?;
    Ok(())
}

/// Kinds of single-use links.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkPurpose {
    Invitation,
    PasswordReset,
}

impl LinkPurpose {
    fn as_str(self) -> &'static str {
        match self {
            LinkPurpose::Invitation => "invitation",
            LinkPurpose::PasswordReset => "password_reset",
        }
    }
    /// Validity: an invitation a week, a reset link one hour.
    pub fn ttl(self) -> i64 {
        match self {
            LinkPurpose::Invitation => 7 * 86_400,
            LinkPurpose::PasswordReset => 3600,
        }
    }
}

/// Creates a single-use link token; only its hash is stored.
pub async fn create_link(db: &Db, user_id: i64, purpose: LinkPurpose) -> Result<String> {
    let token = crate::auth::random_token();
    let t = now();
    sqlx::query(
        "INSERT INTO user_tokens (token_hash, purpose, user_id, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(crate::auth::sha256_hex(&token))
    .bind(purpose.as_str())
    .bind(user_id)
    .bind(t)
    .bind(t + purpose.ttl())
    .execute(&db.pool)
    .await?;
    Ok(token)
}

/// The user a valid, unused, unexpired link belongs to (without using it).
pub async fn peek_link(db: &Db, token: &str, purpose: LinkPurpose) -> Result<Option<i64>> {
    Ok(sqlx::query_scalar(
        "SELECT user_id FROM user_tokens WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > $3",
    )
    .bind(crate::auth::sha256_hex(token))
    .bind(purpose.as_str())
    .bind(now())
    .fetch_optional(&db.pool)
    .await?)
}

/// Uses a link: atomically marks it used and returns its user; a second use finds nothing.
pub async fn consume_link(db: &Db, token: &str, purpose: LinkPurpose) -> Result<Option<i64>> {
    let t = now();
    Ok(sqlx::query_scalar(
        "UPDATE user_tokens SET used_at = $1 WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 \
         RETURNING user_id",
    )
    .bind(t)
    .bind(crate::auth::sha256_hex(token))
    .bind(purpose.as_str())
    .fetch_optional(&db.pool)
    .await?)
}

#[derive(Clone, Debug, Serialize, sqlx::FromRow)]
pub struct ApiToken {
    pub id: i64,
    pub name: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
}

/// API tokens are prefixed so they are recognisable in a leaked file (`trn_…`).
pub async fn create_api_token(db: &Db, user_id: i64, name: &str) -> Result<(i64, String)> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 80 {
        return Err(Error::Invalid("Donnez au jeton un nom de 1 à 80 caractères.".into()));
    }
    let token = format!("trn_{}", crate::auth::random_token());
    let id = sqlx::query_scalar(
        "INSERT INTO api_tokens (user_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4) RETURNING id",
    )
    .bind(user_id)
    .bind(name)
    .bind(crate::auth::sha256_hex(&token))
    .bind(now())
    .fetch_one(&db.pool)
    .await?;
    Ok((id, token))
}

pub async fn api_tokens(db: &Db, user_id: i64) -> Result<Vec<ApiToken>> {
    Ok(sqlx::query_as(
        "SELECT id, name, created_at, last_used_at FROM api_tokens WHERE user_id = $1 AND revoked_at IS NULL ORDER BY id",
    )
    .bind(user_id)
    .fetch_all(&db.pool)
    .await?)
}

pub async fn revoke_api_token(db: &Db, user_id: i64, token_id: i64) -> Result<()> {
    let n = sqlx::query("UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL")
        .bind(now())
        .bind(token_id)
        .bind(user_id)
        .execute(&db.pool)
        .await?
        .rows_affected();
    if n == 0 { Err(Error::NotFound) } else { Ok(()) }
}

/// The enabled user behind a live API token.
pub async fn authenticate_api_token(db: &Db, token: &str) -> Result<Option<i64>> {
    let hash = crate::auth::sha256_hex(token);
    let user: Option<(i64, i64)> = sqlx::query_as(
        "SELECT t.id, t.user_id FROM api_tokens t JOIN users u ON u.id = t.user_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL AND u.disabled = 0",
    )
    .bind(&hash)
    .fetch_optional(&db.pool)
    .await?;
    let Some((token_id, user_id)) = user else {
        return Ok(None);
    };
    sqlx::query(
        "UPDATE api_tokens SET last_used_at = $1 WHERE id = $2 AND (last_used_at IS NULL OR last_used_at < $3)",
    )
    .bind(now())
    .bind(token_id)
    .bind(now() - 60)
    .execute(&db.pool)
    .await?;
    Ok(Some(user_id))
}
