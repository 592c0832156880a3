//! Login, sessions, throttling, CSRF, TOTP, password reset over real SMTP, invitations, disabling.

use reqwest::StatusCode;

use crate::helpers::*;

fn session_cookie(r: &reqwest::Response) -> String {
    r.headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_string())
        .find(|c| c.starts_with("terrain_session="))
        .expect("a session cookie")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_sets_a_safe_cookie_rotates_the_session_and_logout_revokes_it() {
    let t = TestApp::spawn().await;
    let raw = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap();
    let r = t.post_login(&raw, COORD_69, PASSWORD).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&r), "/");
    let cookie = session_cookie(&r);
    assert!(cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax") && cookie.contains("Path=/"), "{cookie}");
    let first = cookie.split(';').next().unwrap().to_string();
    assert!(first.len() > "terrain_session=".len() + 40, "256-bit id expected: {first}");
    assert_eq!(t.audit_count("login").await, 1);

    // The first session works.
    let page = raw.get(t.url("/")).header("cookie", &first).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);

    // Logging in again from the same browser gives a new id and kills the old one.
    let r = raw
        .post(t.url("/connexion"))
        .header("cookie", &first)
        .form(&[("email", COORD_69), ("password", PASSWORD)])
        .send()
        .await
        .unwrap();
    let second = session_cookie(&r).split(';').next().unwrap().to_string();
    assert_ne!(first, second);
    let old = raw.get(t.url("/")).header("cookie", &first).send().await.unwrap();
    assert_eq!(old.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&old), "/connexion");

    // Logout revokes the session server-side, even if the cookie is replayed.
    let r = raw.post(t.url("/deconnexion")).header("cookie", &second).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(r.headers().get("set-cookie").unwrap().to_str().unwrap().contains("Max-Age=0"));
    let replay = raw.get(t.url("/")).header("cookie", &second).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.audit_count("logout").await, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_passwords_are_refused_and_audited_without_saying_which_part_was_wrong() {
    let t = TestApp::spawn().await;
    let c = t.client();
    let wrong_pw = t.post_login(&c, COORD_69, "not the password").await;
    assert_eq!(wrong_pw.status(), StatusCode::UNAUTHORIZED);
    let body = wrong_pw.text().await.unwrap();
    assert!(body.contains("Adresse e-mail ou mot de passe incorrect"));
    let unknown = t.post_login(&c, "nobody@example.org", "not the password").await;
    assert_eq!(unknown.status(), StatusCode::UNAUTHORIZED);
    assert!(unknown.text().await.unwrap().contains("Adresse e-mail ou mot de passe incorrect"));
    assert_eq!(t.audit_count("login_failed").await, 2);
    // The audit log holds no e-mail address nor password.
    let details: Vec<String> =
        sqlx::query_scalar("SELECT details || target_id FROM audit_log").fetch_all(&t.app.db.pool).await.unwrap();
    assert!(details.iter().all(|d| !d.contains('@') && !d.contains("not the password")));
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_26th_login_attempt_is_throttled_per_ip_and_per_account() {
    let t = TestApp::spawn_with(|c| c.trust_proxy = true).await;
    let c = t.client();
    let attempt = |ip: &'static str, email: &'static str, pw: &'static str| {
        let c = c.clone();
        let url = t.url("/connexion");
        async move {
            c.post(url)
                .header("x-forwarded-for", ip)
                .form(&[("email", email), ("password", pw)])
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    // Per account: 25 failures from one address…
    for _ in 0..25 {
        assert_eq!(attempt("203.0.113.1", STAFF_69, "wrong password!").await, StatusCode::UNAUTHORIZED);
    }
    // …then the 26th is refused even with the right password, and changing address does not help.
    assert_eq!(attempt("203.0.113.1", STAFF_69, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(attempt("198.51.100.7", STAFF_69, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    // Another account from a fresh address is not affected.
    assert_eq!(attempt("198.51.100.8", COORD_69, PASSWORD).await, StatusCode::SEE_OTHER);

    // Per IP: 25 failures spread over many accounts from one address (an IPv6 /64 counts as one).
    for i in 0..25 {
        let ip: &'static str = if i % 2 == 0 { "2001:db8:5:6::1" } else { "2001:db8:5:6:ffff::2" };
        let email: &'static str = Box::leak(format!("unknown{i}@example.org").into_boxed_str());
        assert_eq!(attempt(ip, email, "wrong password!").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(attempt("2001:db8:5:6::99", COORD_29, PASSWORD).await, StatusCode::TOO_MANY_REQUESTS);
    assert!(t.audit_count("login_throttled").await >= 3);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_are_refused_and_change_nothing() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let fed = t.federation_id("69").await;
    let before = t.count("SELECT COUNT(*) FROM sections").await;
    let url = t.url(&format!("/federations/{fed}/sections"));
    let form = [("name", "Section CSRF"), ("communes", "")];
    let r = c.post(&url).header("origin", "https://evil.example").form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let r = c.post(&url).header("sec-fetch-site", "cross-site").form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Logging someone out from another site is refused too.
    let r = c.post(t.url("/deconnexion")).header("origin", "https://evil.example").send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(t.count("SELECT COUNT(*) FROM sections").await, before);
    // The same request from our own origin goes through.
    let r = c
        .post(&url)
        .header("origin", &t.base)
        .header("sec-fetch-site", "same-origin")
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.count("SELECT COUNT(*) FROM sections").await, before + 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn national_roles_must_pass_totp_and_can_enrol() {
    let t = TestApp::spawn().await;
    let c = t.client();
    let r = t.post_login(&c, ADMIN, PASSWORD).await;
    assert_eq!(location(&r), "/connexion/totp");
    // Without the second factor, pages send back to it.
    let r = c.get(t.url("/journal")).send().await.unwrap();
    assert_eq!(location(&r), "/connexion/totp");
    let r = c.post(t.url("/connexion/totp")).form(&[("code", "000000")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(t.audit_count("totp_failed").await, 1);
    let code = t.totp_code(ADMIN).await;
    let r = c.post(t.url("/connexion/totp")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(location(&r), "/");
    assert_eq!(c.get(t.url("/journal")).send().await.unwrap().status(), StatusCode::OK);
    // The same code cannot be used twice, even by someone who knows the password.
    let c2 = t.client();
    assert_eq!(location(&t.post_login(&c2, ADMIN, PASSWORD).await), "/connexion/totp");
    let r = c2.post(t.url("/connexion/totp")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "a replayed code is refused");

    // A national role granted to an account without TOTP: enrolment is required before anything else.
    let staff = t.user_id(STAFF_69).await;
    terrain::users::grant(
        &t.app.db,
        staff,
        terrain::access::Role::NationalStaff,
        terrain::access::Scope::National,
        None,
    )
    .await
    .unwrap();
    let c = t.client();
    let r = t.post_login(&c, STAFF_69, PASSWORD).await;
    assert_eq!(location(&r), "/connexion/totp");
    let page = c.get(t.url("/connexion/totp")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("otpauth://totp/"), "enrolment shows the secret");
    let code = t.totp_code(STAFF_69).await;
    let r = c.post(t.url("/connexion/totp")).form(&[("code", code.as_str())]).send().await.unwrap();
    assert_eq!(location(&r), "/");
    assert_eq!(t.audit_count("totp_enabled").await, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totp_requirement_can_be_switched_off_for_accounts_without_it() {
    let t = TestApp::spawn_with(|c| c.require_totp_for_national = false).await;
    let staff = t.user_id(STAFF_69).await;
    terrain::users::grant(
        &t.app.db,
        staff,
        terrain::access::Role::NationalStaff,
        terrain::access::Scope::National,
        None,
    )
    .await
    .unwrap();
    let c = t.client();
    let r = t.post_login(&c, STAFF_69, PASSWORD).await;
    assert_eq!(location(&r), "/");
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn password_reset_link_travels_by_real_smtp_and_works_once() {
    let sink = SmtpSink::start();
    let port = sink.port;
    let t = TestApp::spawn_with(move |c| {
        c.smtp.host = "127.0.0.1".into();
        c.smtp.port = port;
        c.outbox = false;
    })
    .await;
    let c = t.client();
    let r = c.post(t.url("/mot-de-passe-oublie")).form(&[("email", COORD_69)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Unknown addresses get the same answer and no mail.
    let r = c.post(t.url("/mot-de-passe-oublie")).form(&[("email", "nobody@example.org")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    t.drain_jobs().await;
    let mail = sink.wait_for(COORD_69).await;
    assert_eq!(sink.messages().len(), 1);
    let link = link_in(&mail, "/mot-de-passe/");
    assert!(mail.contains("Subject: Nouveau mot de passe"));

    assert_eq!(c.get(t.url(&link)).send().await.unwrap().status(), StatusCode::OK);
    // Bad input changes nothing and keeps the link usable.
    let r = c.post(t.url(&link)).form(&[("password", "court"), ("confirm", "court")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let new_pw = "une toute nouvelle phrase secrète";
    let r = c.post(t.url(&link)).form(&[("password", new_pw), ("confirm", new_pw)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    // Reuse is refused.
    let other = "encore une autre phrase secrète";
    let r = c.post(t.url(&link)).form(&[("password", other), ("confirm", other)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::GONE);
    assert_eq!(c.get(t.url(&link)).send().await.unwrap().status(), StatusCode::GONE);
    // Old password no longer works, the new one does.
    assert_eq!(t.post_login(&t.client(), COORD_69, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(t.post_login(&t.client(), COORD_69, new_pw).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.audit_count("password_reset_requested").await, 1);
    assert_eq!(t.audit_count("password_changed").await, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_requests_are_limited_per_address() {
    let t = TestApp::spawn().await;
    let c = t.client();
    for _ in 0..5 {
        let r = c.post(t.url("/mot-de-passe-oublie")).form(&[("email", ACTIVIST_69)]).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    let r = c.post(t.url("/mot-de-passe-oublie")).form(&[("email", ACTIVIST_69)]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_coordinator_invites_into_their_own_scope_only() {
    let t = TestApp::spawn().await;
    let c = t.login(COORD_69).await;
    let lyon = t.section_id("Lyon 1er").await;
    let brest = t.section_id("Brest").await;
    let fed29 = t.federation_id("29").await;
    let invite = |email: &str, role: &str, fed: String, sec: String| {
        let form = vec![
            ("email".to_string(), email.to_string()),
            ("display_name".to_string(), "Inès Nouvelle".to_string()),
            ("role".to_string(), role.to_string()),
            ("federation_id".to_string(), fed),
            ("section_id".to_string(), sec),
        ];
        c.post(t.url("/utilisateurs/inviter")).form(&form).send()
    };
    // Into another federation, or above their own rank: refused, nothing created.
    let r = invite("ines@example.org", "activist", String::new(), brest.to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = invite("ines@example.org", "federation_staff", fed29.to_string(), String::new()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r =
        invite("ines@example.org", "federation_coordinator", t.federation_id("69").await.to_string(), String::new())
            .await
            .unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let r = invite("not-an-address", "activist", String::new(), lyon.to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(t.count("SELECT COUNT(*) FROM users WHERE email = 'ines@example.org'").await, 0);

    let r = invite("Ines@Example.org", "activist", String::new(), lyon.to_string()).await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let mail = t.last_mail_to("ines@example.org").await;
    let link = link_in(&mail, "/invitation/");
    let anon = t.client();
    assert_eq!(anon.get(t.url(&link)).send().await.unwrap().status(), StatusCode::OK);
    let pw = "ma phrase de passe militante";
    let r = anon
        .post(t.url(&link))
        .form(&[("display_name", "Inès N."), ("password", pw), ("confirm", pw)])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(t.post_login(&anon, "ines@example.org", pw).await.status(), StatusCode::SEE_OTHER);
    let access = terrain::users::access_for(&t.app.db, t.user_id("ines@example.org").await).await.unwrap();
    assert_eq!(access.grants.len(), 1);
    assert_eq!(access.grants[0].role, terrain::access::Role::Activist);
    assert_eq!(access.grants[0].scope.section_id(), Some(lyon));
    assert_eq!(t.audit_count("invitation_sent").await, 1);
    assert_eq!(t.audit_count("invitation_accepted").await, 1);
    t.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabling_a_user_ends_their_sessions_and_role_changes_are_audited() {
    let t = TestApp::spawn().await;
    let coord = t.login(COORD_69).await;
    let activist = t.login(ACTIVIST_69).await;
    assert_eq!(activist.get(t.url("/")).send().await.unwrap().status(), StatusCode::OK);
    let id = t.user_id(ACTIVIST_69).await;
    let lyon = t.section_id("Lyon 1er").await;

    let r = coord
        .post(t.url(&format!("/utilisateurs/{id}/roles")))
        .form(&[("role", "activist"), ("federation_id", ""), ("section_id", &lyon.to_string())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.audit_count("role_granted").await, 1);
    let grant: i64 = sqlx::query_scalar("SELECT id FROM role_grants WHERE user_id = $1 AND section_id = $2")
        .bind(id)
        .bind(lyon)
        .fetch_one(&t.app.db.pool)
        .await
        .unwrap();
    let r = coord.post(t.url(&format!("/utilisateurs/{id}/roles/{grant}/retirer"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.audit_count("role_revoked").await, 1);

    let r = coord.post(t.url(&format!("/utilisateurs/{id}/desactiver"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(t.audit_count("user_disabled").await, 1);
    let r = activist.get(t.url("/")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "a disabled user's session is dead");
    assert_eq!(t.post_login(&t.client(), ACTIVIST_69, PASSWORD).await.status(), StatusCode::UNAUTHORIZED);

    // A coordinator cannot disable a peer coordinator of another federation, nor themselves.
    let other = t.user_id(COORD_29).await;
    let r = coord.post(t.url(&format!("/utilisateurs/{other}/desactiver"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::NOT_FOUND);
    let me = t.user_id(COORD_69).await;
    let r = coord.post(t.url(&format!("/utilisateurs/{me}/desactiver"))).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    t.stop().await;
}
