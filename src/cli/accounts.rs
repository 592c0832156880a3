//! `terrain user …`: accounts and their scopes from the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};

use super::UserAction;
use crate::access::{Role, Scope};
use crate::app::App;
use crate::audit::{self, Entry, RequestMeta};
use crate::users;

async fn scope_from_args(
    app: &App,
    role: Role,
    federation: Option<&str>,
    section: Option<&str>,
) -> anyhow::Result<Scope> {
    let scope = match (federation, section) {
        (None, None) => Scope::National,
        (Some(code), sec) => {
            let fid: i64 = sqlx::query_scalar("SELECT id FROM federations WHERE code = $1")
                .bind(code)
                .fetch_optional(&app.db.pool)
                .await?
                .with_context(|| format!("no federation with code {code}"))?;
            match sec {
                None => Scope::Federation { federation_id: fid },
                Some(name) => {
                    let sid: i64 = sqlx::query_scalar("SELECT id FROM sections WHERE federation_id = $1 AND name = $2")
                        .bind(fid)
                        .bind(name)
                        .fetch_optional(&app.db.pool)
                        .await?
                        .with_context(|| format!("no section '{name}' in federation {code}"))?;
                    Scope::Section { federation_id: fid, section_id: sid }
                }
            }
        }
        (None, Some(_)) => bail!("--section needs --federation"),
    };
    if !role.scope_kinds().contains(&scope.kind()) {
        bail!("role {} cannot be granted at this level ({:?})", role.as_str(), scope.kind());
    }
    Ok(scope)
}

fn parse_role(s: &str) -> anyhow::Result<Role> {
    Role::parse(s).with_context(|| {
        format!("unknown role '{s}' (one of: {})", crate::access::ALL_ROLES.map(Role::as_str).join(", "))
    })
}

async fn user_id_by_email(app: &App, email: &str) -> anyhow::Result<i64> {
    let email = crate::auth::normalise_email(email).with_context(|| format!("'{email}' is not an e-mail address"))?;
    Ok(users::credentials_by_email(&app.db, &email).await?.with_context(|| format!("no account for {email}"))?.id)
}

pub(super) async fn user_command(app: &App, action: UserAction) -> anyhow::Result<()> {
    let meta = RequestMeta::cli();
    match action {
        UserAction::Create { email, name, role, federation, section } => {
            let email =
                crate::auth::normalise_email(&email).with_context(|| format!("'{email}' is not an e-mail address"))?;
            let granted = match &role {
                Some(r) => {
                    let role = parse_role(r)?;
                    Some((role, scope_from_args(app, role, federation.as_deref(), section.as_deref()).await?))
                }
                None => None,
            };
            let (hash, shown, generated) = new_password(&email).await?;
            let id = users::create(&app.db, &email, name.trim(), Some(&hash)).await?;
            audit::record(&app.db, &meta, Entry::new(None, "user_created").target("user", id)).await?;
            if let Some((role, scope)) = granted {
                grant(app, &meta, id, role, scope).await?;
            }
            println!("account {id} created for {email}");
            if generated {
                println!("generated password (shown once): {shown}");
            }
            Ok(())
        }
        UserAction::ResetPassword { email } => {
            let id = user_id_by_email(app, &email).await?;
            let (hash, shown, generated) = new_password(&email).await?;
            users::set_password_hash(&app.db, id, &hash).await?;
            crate::auth::session::delete_for_user(&app.db, id).await?;
            audit::record(&app.db, &meta, Entry::new(None, "password_changed").target("user", id)).await?;
            if generated {
                println!("new password for {email}: {shown}");
            } else {
                println!("password changed for {email}");
            }
            Ok(())
        }
        UserAction::Grant { email, role, federation, section } => {
            let id = user_id_by_email(app, &email).await?;
            let role = parse_role(&role)?;
            let scope = scope_from_args(app, role, federation.as_deref(), section.as_deref()).await?;
            grant(app, &meta, id, role, scope).await?;
            println!("granted {} to {email}", role.as_str());
            Ok(())
        }
        UserAction::Disable { email } => {
            let id = user_id_by_email(app, &email).await?;
            users::set_disabled(&app.db, id, true).await?;
            audit::record(&app.db, &meta, Entry::new(None, "user_disabled").target("user", id)).await?;
            println!("disabled {email}");
            Ok(())
        }
    }
}

fn read_or_generate_password() -> anyhow::Result<(String, bool)> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        let mut line = String::new();
        stdin.lock().read_line(&mut line)?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if !p.is_empty() {
            return Ok((p, false));
        }
    }
    Ok((crate::auth::random_token()[..20].to_string(), true))
}

/// Grants a role and records it in the audit log.
async fn grant(app: &App, meta: &RequestMeta, id: i64, role: Role, scope: Scope) -> anyhow::Result<()> {
    users::grant(&app.db, id, role, scope, None).await?;
    let entry = Entry::new(None, "role_granted")
        .target("user", id)
        .federation(scope.federation_id())
        .details(serde_json::json!({"role": role.as_str()}));
    audit::record(&app.db, meta, entry).await?;
    Ok(())
}

/// A password read from standard input (or generated) that passes the policy for `email`: its hash, the password
/// to show, and whether it was generated.
async fn new_password(email: &str) -> anyhow::Result<(String, String, bool)> {
    let (password, generated) = read_or_generate_password()?;
    if let Err(why) = crate::auth::password::check_policy(&password, email) {
        bail!("{why}");
    }
    let shown = password.clone();
    let hash = tokio::task::spawn_blocking(move || crate::auth::password::hash(&password)).await?;
    Ok((hash, shown, generated))
}
