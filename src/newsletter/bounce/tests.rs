use super::heuristics::leading_address;
use super::status::{parse_status, severity, status_from_text};
use super::text::scan_addresses;
use super::verp::SIG_LEN;
use super::*;
use proptest::prelude::*;
use std::time::{Duration, Instant};

const KEY: &[u8] = b"terrain-test-verp-key";
const PREFIX: &str = "rebond";

macro_rules! sample {
    ($name:literal) => {
        include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/bounces/", $name)).as_slice()
    };
}

fn samples() -> Vec<(&'static str, &'static [u8])> {
    vec![
        ("postfix-hard-511.eml", sample!("postfix-hard-511.eml")),
        ("postfix-soft-422-mailbox-full.eml", sample!("postfix-soft-422-mailbox-full.eml")),
        ("postfix-policy-571.eml", sample!("postfix-policy-571.eml")),
        ("postfix-delayed.eml", sample!("postfix-delayed.eml")),
        ("gmail-dsn-511.eml", sample!("gmail-dsn-511.eml")),
        ("exim-plain-550.eml", sample!("exim-plain-550.eml")),
        ("exim-delay-warning.eml", sample!("exim-delay-warning.eml")),
        ("qmail-failure.eml", sample!("qmail-failure.eml")),
        ("exchange-ndr-html.eml", sample!("exchange-ndr-html.eml")),
        ("arf-abuse-yahoo.eml", sample!("arf-abuse-yahoo.eml")),
        ("autoreply-fr.eml", sample!("autoreply-fr.eml")),
        ("garbage.bin", sample!("garbage.bin")),
    ]
}

struct Expected {
    kind: ReportKind,
    address: Option<&'static str>,
    severity: Option<Severity>,
    status: Option<&'static str>,
    person: i64,
    campaign_header: Option<&'static str>,
}

fn expected(name: &str) -> Expected {
    use ReportKind::*;
    use Severity::*;
    let e = |kind, address, severity, status, person, campaign_header| Expected {
        kind,
        address,
        severity,
        status,
        person,
        campaign_header,
    };
    match name {
        "postfix-hard-511.eml" => {
            e(Bounce, Some("jean.dupont@example.net"), Some(Hard), Some("5.1.1"), 3456, Some("12"))
        }
        "postfix-soft-422-mailbox-full.eml" => {
            e(Bounce, Some("marie.martin@example.net"), Some(Soft), Some("4.2.2"), 3457, Some("12"))
        }
        "gmail-dsn-511.eml" => e(Bounce, Some("paul.bernard@example.net"), Some(Hard), Some("5.1.1"), 3458, Some("12")),
        "exim-plain-550.eml" => e(Bounce, Some("luc.petit@example.net"), Some(Hard), Some("5.1.1"), 3459, Some("12")),
        "qmail-failure.eml" => {
            e(Bounce, Some("sophie.durand@example.net"), Some(Hard), Some("5.1.1"), 3460, Some("12"))
        }
        "exchange-ndr-html.eml" => {
            e(Bounce, Some("claire.moreau@example.net"), Some(Hard), Some("5.1.10"), 3461, Some("12"))
        }
        "postfix-delayed.eml" => {
            e(DelayNotice, Some("antoine.leroy@example.net"), Some(Soft), Some("4.4.1"), 3462, Some("12"))
        }
        "arf-abuse-yahoo.eml" => e(Complaint, Some("camille.roux@example.net"), Some(Hard), None, 3463, Some("12")),
        "autoreply-fr.eml" => e(AutoReply, None, None, None, 3464, None),
        "postfix-policy-571.eml" => {
            e(Bounce, Some("hugo.lambert@example.net"), Some(Soft), Some("5.7.1"), 3465, Some("12"))
        }
        "exim-delay-warning.eml" => {
            e(DelayNotice, Some("yasmine.garnier@example.net"), Some(Soft), Some("4.7.1"), 3466, None)
        }
        other => panic!("no expectation for {other}"),
    }
}

#[test]
fn samples_parse_to_expected_reports() {
    for (name, raw) in samples() {
        if name == "garbage.bin" {
            match parse(raw) {
                Err(_) => {}
                Ok(report) => assert_eq!(report.kind, ReportKind::Unknown, "{name}"),
            }
            continue;
        }
        let want = expected(name);
        let report = parse(raw).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(report.kind, want.kind, "{name}: {report:#?}");
        match want.address {
            Some(address) => {
                assert_eq!(report.recipients.len(), 1, "{name}: {report:#?}");
                let r = &report.recipients[0];
                assert_eq!(r.address.as_deref(), Some(address), "{name}");
                assert_eq!(Some(r.severity), want.severity, "{name}");
                assert_eq!(r.status.as_deref(), want.status, "{name}");
            }
            None => assert!(report.recipients.is_empty(), "{name}: {report:#?}"),
        }
        assert_eq!(report.verp_ids(KEY, PREFIX), Some((12, want.person)), "{name}: {report:#?}");
        assert_eq!(report.campaign_header.as_deref(), want.campaign_header, "{name}");
        let id = format!("c12.p{}.1710234900@terrain.example.org", want.person);
        assert_eq!(report.original_message_id.as_deref(), Some(id.as_str()), "{name}");
    }
}

#[test]
fn sample_details() {
    let report = parse(sample!("postfix-hard-511.eml")).unwrap();
    assert_eq!(
        report.recipients[0].diagnostic.as_deref(),
        Some("550 5.1.1 <jean.dupont@example.net>: Recipient address rejected: User unknown in virtual mailbox table")
    );
    assert_eq!(report.verp_addresses, ["rebond+c12.p3456.utdvbbcfj4@bounces.example.org", "jean.dupont@example.net"]);

    // The ARF report is delivered to the feedback-loop address: the VERP address only appears in
    // Original-Mail-From and the embedded original's Return-Path.
    let report = parse(sample!("arf-abuse-yahoo.eml")).unwrap();
    assert!(report.verp_addresses.iter().any(|a| a == "fbl@example.org"));
    assert_eq!(report.recipients[0].diagnostic.as_deref(), Some("feedback-type: abuse"));

    // Exchange: mixed-case address lowercased, CRLF file.
    assert!(sample!("exchange-ndr-html.eml").windows(2).any(|w| w == b"\r\n"));
    let report = parse(sample!("exchange-ndr-html.eml")).unwrap();
    assert!(report.recipients[0].diagnostic.as_deref().unwrap().contains("RecipientNotFound"));
}

#[test]
fn empty_and_non_mail_inputs_are_errors() {
    assert_eq!(parse(b""), Err(ParseError::Empty));
    assert_eq!(parse(b" \r\n\t\n"), Err(ParseError::Empty));
    assert_eq!(parse(b"{\"hello\": \"world\"}\n"), Err(ParseError::NotAMessage));
    assert_eq!(parse(b"\x00\x01\x02garbage"), Err(ParseError::NotAMessage));
    assert!(parse(sample!("garbage.bin")).is_err());
}

#[test]
fn truncated_samples_do_not_claim_too_much() {
    // Cut in the middle of the delivery-status part: still a bounce, never a wrong kind.
    let raw = sample!("postfix-hard-511.eml");
    for cut in [0, 10, 200, 700, 1500, 2000, 2400] {
        let cut = cut.min(raw.len());
        if let Ok(report) = parse(&raw[..cut]) {
            assert!(matches!(report.kind, ReportKind::Bounce | ReportKind::Unknown), "cut {cut}: {report:?}");
        }
    }
}

#[test]
fn corrupt_mime_that_trips_mail_parser_debug_assertions_is_handled() {
    // Found by fuzzing: mail-parser 0.11 hits a `debug_assert!(false, …)` on this input.
    let raw = "Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\r\n--b\n=C3\n\
        Auto-Submitted: auto-replied\nContent-Type: multipart/report; report-type=delivery-status; boundary=b\n\
        Content-Transfer-Encoding: quoted-printable\nContent-Type: message/rfc822\n  c@example.net\n\
        Content-Transfer-Encoding: quoted-printable\n folded continuation\n\r\nContent-Type: message/rfc822\n\
        Return-Path: <rebond+c1.p2.abcdefghij@bounces.example.org>\n\n  c@example.net\n\
        Return-Path: <rebond+c1.p2.abcdefghij@bounces.example.org>\n--b--\nContent-Type: text/rfc822-headers\n\
        Auto-Submitted: auto-replied\n--b--\n<p>a</p>Content-Type: message/feedback-report\n\r\nStatus: 5.1.1\n\
        é--b--\nContent-Transfer-Encoding: base64\nContent-Type: text/html\nContent-Type: message/feedback-report\n\
        Status: 5.1.1\nFinal-Recipient: rfc822; a@example.net\n\r\n=\n";
    let _ = parse(raw.as_bytes());
    // The plain-text fallback on its own still reads a free-form bounce.
    let raw = sample!("qmail-failure.eml");
    let top = header_block(raw);
    let content = plain_content(raw, &top);
    assert_eq!(content.subject, "failure notice");
    assert!(content.body.starts_with("Hi. This is the qmail-send program"));
}

#[test]
fn human_reply_is_unknown() {
    let raw =
        b"From: Jean <jean@example.net>\nTo: rebond+c1.p2.x@bounces.example.org\nSubject: Re: Lettre\n\nMerci !\n";
    let report = parse(raw).unwrap();
    assert_eq!(report.kind, ReportKind::Unknown);
    assert!(report.recipients.is_empty());
    assert_eq!(report.verp_addresses, ["rebond+c1.p2.x@bounces.example.org"]);
}

#[test]
fn english_out_of_office_by_subject_only() {
    let raw = b"From: Bob <bob@example.net>\nTo: rebond+c1.p2.x@bounces.example.org\n\
        Subject: Out of Office: Newsletter\nIn-Reply-To: <abc@example.org>\n\nI am away until Monday.\n";
    let report = parse(raw).unwrap();
    assert_eq!(report.kind, ReportKind::AutoReply);
    assert_eq!(report.original_message_id.as_deref(), Some("abc@example.org"));
}

#[test]
fn exim_without_failed_recipients_header() {
    let raw = String::from_utf8(sample!("exim-plain-550.eml").to_vec()).unwrap();
    let raw = raw.replace("X-Failed-Recipients: luc.petit@example.net\n", "");
    let report = parse(raw.as_bytes()).unwrap();
    assert_eq!(report.kind, ReportKind::Bounce);
    assert_eq!(report.recipients.len(), 1);
    assert_eq!(report.recipients[0].address.as_deref(), Some("luc.petit@example.net"));
    assert_eq!(report.recipients[0].status.as_deref(), Some("5.1.1"));
    assert_eq!(report.campaign_header.as_deref(), Some("12"));
}

/// Hides the machine-readable part of a sample so that only the human-readable text is left.
fn without_dsn_part(raw: &[u8]) -> Vec<u8> {
    String::from_utf8_lossy(raw).replace("message/delivery-status", "application/octet-stream").into_bytes()
}

#[test]
fn postfix_notification_text_alone_is_enough() {
    let report = parse(&without_dsn_part(sample!("postfix-hard-511.eml"))).unwrap();
    assert_eq!(report.kind, ReportKind::Bounce);
    let r = &report.recipients[0];
    assert_eq!(
        (r.address.as_deref(), r.severity, r.status.as_deref()),
        (Some("jean.dupont@example.net"), Severity::Hard, Some("5.1.1"))
    );
    assert_eq!(report.recipients.len(), 1);

    let report = parse(&without_dsn_part(sample!("postfix-soft-422-mailbox-full.eml"))).unwrap();
    assert_eq!((report.kind, report.recipients[0].severity), (ReportKind::Bounce, Severity::Soft));

    let report = parse(&without_dsn_part(sample!("postfix-delayed.eml"))).unwrap();
    assert_eq!(report.kind, ReportKind::DelayNotice);
    assert_eq!(report.recipients[0].address.as_deref(), Some("antoine.leroy@example.net"));

    let report = parse(&without_dsn_part(sample!("exchange-ndr-html.eml"))).unwrap();
    assert_eq!(report.kind, ReportKind::Bounce);
    let r = &report.recipients[0];
    assert_eq!(
        (r.address.as_deref(), r.severity, r.status.as_deref()),
        (Some("claire.moreau@example.net"), Severity::Hard, Some("5.1.10"))
    );
}

#[test]
fn free_form_bounce_prefers_lines_with_codes() {
    let raw = b"From: Mail Delivery System <MAILER-DAEMON@mx.example.net>\n\
        To: rebond+c1.p2.x@bounces.example.org\nSubject: Undeliverable: Lettre\n\n\
        Your message wasn't delivered to someone@example.net because the address couldn't be found.\n\n\
        Questions? Write to\nhelpdesk@example.net\n\n\
        Remote server returned: 550 5.1.1 RESOLVER.ADR.RecipNotFound; not found\n";
    let report = parse(raw).unwrap();
    assert_eq!(report.kind, ReportKind::Bounce);
    assert_eq!(report.recipients.len(), 1, "{report:#?}");
    let r = &report.recipients[0];
    assert_eq!(r.address.as_deref(), Some("someone@example.net"));
    assert_eq!(r.status.as_deref(), Some("5.1.1"));
    assert_eq!(r.severity, Severity::Hard);
}

#[test]
fn bounce_without_any_recipient_still_reports_verp() {
    let raw = b"From: MAILER-DAEMON@mx.example.net\nTo: rebond+c12.p3456.utdvbbcfj4@bounces.example.org\n\
        Subject: failure notice\n\nSomething went wrong.\n";
    let report = parse(raw).unwrap();
    assert_eq!(report.kind, ReportKind::Bounce);
    assert!(report.recipients.is_empty());
    assert_eq!(report.verp_ids(KEY, PREFIX), Some((12, 3456)));
}

#[test]
fn plain_bounce_with_basic_code_only() {
    let raw = b"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example.net>\n\
        To: rebond+c1.p2.x@bounces.example.org\nSubject: Returned mail: see transcript for details\n\n\
        The original message was received at Tue, 12 Mar 2024 10:15:00 +0100\n\n\
        ----- The following addresses had permanent fatal errors -----\n\
        <old.user@example.net>\n    (reason: 550 Requested action not taken: mailbox unavailable)\n\n";
    let report = parse(raw).unwrap();
    assert_eq!(report.kind, ReportKind::Bounce);
    let r = &report.recipients[0];
    assert_eq!(r.address.as_deref(), Some("old.user@example.net"));
    assert_eq!(r.status.as_deref(), Some("5.0.0"));
    assert_eq!(r.severity, Severity::Hard);
}

#[test]
fn dsn_with_several_recipients_keeps_failed_ones() {
    let raw = b"From: MAILER-DAEMON@mx.example.org\nTo: rebond+c1.p2.x@bounces.example.org\n\
        Subject: Delivery Status Notification\nMIME-Version: 1.0\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=\"b\"\n\n\
        --b\nContent-Type: text/plain\n\nSee below.\n\n\
        --b\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example.org\n\n\
        Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n\n\
        Final-Recipient: rfc822; B@Example.net\nAction: failed\nStatus: 5.2.2 (mailbox full)\n\n\
        Final-Recipient: rfc822; c@example.net\nStatus: 5.1.1\n\n\
        --b--\n";
    let report = parse(raw).unwrap();
    assert_eq!(report.kind, ReportKind::Bounce);
    let got: Vec<_> = report
        .recipients
        .iter()
        .map(|r| (r.address.as_deref().unwrap(), r.severity, r.status.as_deref().unwrap()))
        .collect();
    assert_eq!(got, [("b@example.net", Severity::Soft, "5.2.2"), ("c@example.net", Severity::Hard, "5.1.1")]);
}

#[test]
fn success_dsn_and_read_receipt_are_not_bounces() {
    let success = b"From: MAILER-DAEMON@mx.example.org\nSubject: Successful Mail Delivery Report\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n\
        --b\nContent-Type: message/delivery-status\n\n\
        Final-Recipient: rfc822; a@example.net\nAction: delivered\nStatus: 2.0.0\n\n--b--\n";
    assert_eq!(parse(success).unwrap().kind, ReportKind::Unknown);
    let mdn = b"From: a@example.net\nSubject: Read: Lettre\n\
        Content-Type: multipart/report; report-type=disposition-notification; boundary=b\n\n\
        --b\nContent-Type: message/disposition-notification\n\n\
        Final-Recipient: rfc822; a@example.net\nDisposition: manual-action/MDN-sent-manually; displayed\n\n--b--\n";
    assert_eq!(parse(mdn).unwrap().kind, ReportKind::AutoReply);
}

#[test]
fn arf_not_spam_is_unknown_and_missing_rcpt_uses_original_to() {
    let report = |ftype: &str, rcpt: &str| {
        format!(
            "From: fbl@isp.example.net\nTo: fbl@example.org\nSubject: Report\nMIME-Version: 1.0\n\
            Content-Type: multipart/report; report-type=feedback-report; boundary=\"b\"\n\n\
            --b\nContent-Type: text/plain\n\nReport.\n\n--b\nContent-Type: message/feedback-report\n\n\
            Feedback-Type: {ftype}\nUser-Agent: JMRP/1.0\nVersion: 1\n{rcpt}\n\
            --b\nContent-Type: text/rfc822-headers\n\n\
            Return-Path: <rebond+c12.p3463.c57m557txd@bounces.example.org>\nTo: Someone <Someone@example.net>\n\
            X-Terrain-Campaign: 12\n\n--b--\n"
        )
    };
    assert_eq!(parse(report("not-spam", "").as_bytes()).unwrap().kind, ReportKind::Unknown);
    let parsed = parse(report("abuse", "").as_bytes()).unwrap();
    assert_eq!(parsed.kind, ReportKind::Complaint);
    assert_eq!(parsed.recipients[0].address.as_deref(), Some("someone@example.net"));
    assert_eq!(parsed.verp_ids(KEY, PREFIX), Some((12, 3463)));
    assert_eq!(parsed.campaign_header.as_deref(), Some("12"));
}

#[test]
fn diagnostic_is_truncated_to_500_chars() {
    let long = "x".repeat(3000);
    let raw = format!(
        "From: MAILER-DAEMON@mx.example.org\nSubject: Undelivered\n\
        Content-Type: multipart/report; report-type=delivery-status; boundary=b\n\n\
        --b\nContent-Type: message/delivery-status\n\nFinal-Recipient: rfc822; a@example.net\n\
        Action: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; 550 5.1.1 {long}\n\n--b--\n"
    );
    let report = parse(raw.as_bytes()).unwrap();
    assert_eq!(report.recipients[0].diagnostic.as_ref().unwrap().chars().count(), MAX_DIAGNOSTIC);
}

#[test]
fn severity_policy() {
    use Severity::*;
    let cases = [
        ("5.1.1", "", Hard),
        ("5.1.10", "", Hard),
        ("5.0.0", "", Hard),
        ("5.2.1", "account disabled", Hard),
        ("5.2.2", "", Soft),
        ("5.2.3", "", Soft),
        ("5.3.4", "", Soft),
        ("5.4.7", "", Soft),
        ("5.7.1", "blocked using rbl", Soft),
        ("5.7.26", "unauthenticated email is not accepted", Soft),
        ("5.7.1", "user unknown", Hard),
        ("5.0.0", "Mailbox full", Soft),
        ("4.2.2", "", Soft),
        ("4.1.1", "user unknown", Soft),
    ];
    for (status, text, want) in cases {
        assert_eq!(severity(Some(status), text, Hard), want, "{status} {text}");
    }
    assert_eq!(severity(None, "", Soft), Soft);
    assert_eq!(severity(None, "no such user", Soft), Hard);
}

#[test]
fn status_code_detection() {
    assert_eq!(status_from_text("said: 550-5.1.1 The email account"), Some("5.1.1".into()));
    assert_eq!(status_from_text("<mx #5.1.1 SMTP; 550 5.1.1 User unknown>"), Some("5.1.1".into()));
    assert_eq!(status_from_text("host [192.0.2.25] said: 452 too many"), Some("4.0.0".into()));
    assert_eq!(status_from_text("host [10.5.1.1] port 25"), None);
    assert_eq!(status_from_text("at 10:15:03 +0100 on 2024-03-12, id 4F1A2B"), None);
    assert_eq!(status_from_text("version 5.1.1.2"), None);
    assert_eq!(parse_status("4.4.7 (delivery time expired)"), Some("4.4.7".into()));
    assert_eq!(parse_status("2.0.0"), Some("2.0.0".into()));
    assert_eq!(parse_status("5.1"), None);
    assert_eq!(parse_status("5.1.1x"), None);
}

#[test]
fn address_scanning() {
    assert_eq!(
        scan_addresses("\"Jean\" <Jean.Dupont@Example.NET>, 'x@example.org', bad@localhost, a@@b.c", 10),
        ["Jean.Dupont@Example.NET", "x@example.org"]
    );
    assert_eq!(scan_addresses("RCPT TO:<a+b=c@example.net>:", 10), ["a+b=c@example.net"]);
    assert_eq!(leading_address("  <a@example.net>: host"), Some("a@example.net".into()));
    assert_eq!(leading_address("Remote host said: <a@example.net>"), None);
}

// -------------------------------------------------------------------------------- VERP

#[test]
fn verp_roundtrip_and_format() {
    let address = verp_address(KEY, PREFIX, "bounces.example.org", 12, 3456);
    assert_eq!(address, "rebond+c12.p3456.utdvbbcfj4@bounces.example.org");
    let (local, _) = address.split_once('@').unwrap();
    let sig = local.rsplit('.').next().unwrap();
    assert_eq!(sig.len(), SIG_LEN);
    assert!(sig.bytes().all(|c| c.is_ascii_lowercase() || (b'2'..=b'7').contains(&c)));
    assert_eq!(verp_decode(KEY, PREFIX, &address), Some((12, 3456)));
}

#[test]
fn verp_accepts_case_brackets_and_display_names() {
    let address = verp_address(KEY, PREFIX, "bounces.example.org", 12, 3456);
    let upper = address.to_uppercase();
    for form in [
        upper.clone(),
        format!("<{address}>"),
        format!("  <{upper}>  "),
        format!("\"Rebond\" <{address}>"),
        format!("Le <Mouvement> <{address}>"),
        format!("rfc822; {address}"),
        format!("rfc822;<{address}>"),
    ] {
        assert_eq!(verp_decode(KEY, PREFIX, &form), Some((12, 3456)), "{form}");
    }
    assert_eq!(verp_decode(KEY, "REBOND", &address), Some((12, 3456)));
}

#[test]
fn verp_refuses_tampering() {
    let address = verp_address(KEY, PREFIX, "bounces.example.org", 12, 3456);
    let sig = address.split_once('@').unwrap().0.rsplit('.').next().unwrap().to_owned();
    let forged = [
        address.replace("p3456", "p3457"),
        address.replace("c12", "c13"),
        address.replace(&sig, &format!("{}a", &sig[..SIG_LEN - 1])),
        address.replace(&sig, &sig[..SIG_LEN - 1]),
        address.replace(&sig, &format!("{sig}a")),
        address.replace("p3456", "p03456"),
        address.replace("p3456", "p+3456"),
        address.replace(&format!(".{sig}"), ""),
        address.replace("rebond+", "rebond-"),
        address.replace("rebond+", "other+"),
        format!("x{address}"),
        address.replace('@', ""),
        address.replace(&sig, &format!("{sig}.x")),
        String::new(),
        "<>".to_owned(),
    ];
    for f in &forged {
        assert_eq!(verp_decode(KEY, PREFIX, f), None, "{f}");
    }
    assert_eq!(verp_decode(b"another-key", PREFIX, &address), None);
    assert_eq!(verp_decode(b"", PREFIX, &verp_address(b"", PREFIX, "b.example.org", 1, 2)), None);
}

#[test]
fn verp_handles_extreme_ids() {
    for (c, p) in [(0, 0), (i64::MAX, i64::MIN), (-1, 1)] {
        let address = verp_address(KEY, PREFIX, "bounces.example.org", c, p);
        assert_eq!(verp_decode(KEY, PREFIX, &address), Some((c, p)));
    }
}

// -------------------------------------------------------------------------------- robustness

fn assert_bounded(raw: &[u8], what: &str) {
    let start = Instant::now();
    let result = parse(raw);
    let elapsed = start.elapsed();
    assert!(elapsed < Duration::from_millis(1000), "{what}: took {elapsed:?}");
    if let Ok(report) = result {
        assert!(report.recipients.len() <= MAX_RECIPIENTS);
        assert!(report.verp_addresses.len() <= MAX_ADDRESSES);
    }
}

#[test]
fn five_megabyte_inputs_are_fast() {
    const SIZE: usize = 5 * 1024 * 1024;
    // A real bounce with a huge returned message.
    let mut big = sample!("postfix-hard-511.eml").to_vec();
    let end = big.len() - b"--4TvB1k3mZRz9sWq.1710234903/mail.example.org--\n".len();
    big.truncate(end);
    while big.len() < SIZE {
        big.extend_from_slice(b"Voici les nouvelles du mois : reunion publique jeudi a 19 h. user@example.net\n");
    }
    assert_bounded(&big, "big returned message");
    assert_eq!(parse(&big).unwrap().recipients[0].status.as_deref(), Some("5.1.1"));

    let mut plain = sample!("qmail-failure.eml").to_vec();
    plain.resize(SIZE, b'a');
    assert_bounded(&plain, "qmail + one huge line");

    let mut headers = Vec::with_capacity(SIZE);
    while headers.len() < SIZE {
        headers.extend_from_slice(b"Received: from a@b.example.net by x.example.org; 550 5.1.1\n");
    }
    assert_bounded(&headers, "endless headers");

    let mut ats = b"From: MAILER-DAEMON@x.example.org\nSubject: failure notice\n\n".to_vec();
    while ats.len() < SIZE {
        ats.extend_from_slice(b"a@b.c@d.e <x@y.example.net>: 550 5.1.1 @@@@ 4.4.4.4.4\n");
    }
    assert_bounded(&ats, "address soup");

    let mut boundaries = b"From: a@example.org\nContent-Type: multipart/mixed; boundary=x\n\n".to_vec();
    while boundaries.len() < SIZE {
        boundaries.extend_from_slice(b"--x\nContent-Type: multipart/mixed; boundary=x\n\n");
    }
    assert_bounded(&boundaries, "nested multiparts");

    let mut html = b"From: postmaster@example.net\nSubject: Undeliverable: Lettre\nMIME-Version: 1.0\n\
        Content-Type: text/html; charset=utf-8\n\n<html><body>"
        .to_vec();
    while html.len() < SIZE {
        html.extend_from_slice(b"<p><a href=\"mailto:x@example.net\">x@example.net</a> 550 5.1.1 <b>&amp;</b></p>\n");
    }
    assert_bounded(&html, "html-only bounce");

    let mut qp = b"From: MAILER-DAEMON@x.example.org\nSubject: failure notice\n\
        Content-Transfer-Encoding: quoted-printable\n\n"
        .to_vec();
    while qp.len() < SIZE {
        qp.extend_from_slice(b"=C3=A9=\n=3D=20 x@example.net 550 =\r\n");
    }
    assert_bounded(&qp, "quoted-printable");

    assert_bounded(&vec![b'\n'; SIZE], "newlines");
    assert_bounded(&vec![0xff; SIZE], "binary");
}

fn mail_fragment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("From: MAILER-DAEMON@mx.example.org\n".to_owned()),
        Just("Subject: Undelivered Mail Returned to Sender\n".to_owned()),
        Just("Auto-Submitted: auto-replied\n".to_owned()),
        Just("Content-Type: multipart/report; report-type=delivery-status; boundary=b\n".to_owned()),
        Just("Content-Type: multipart/report; report-type=feedback-report; boundary=b\n".to_owned()),
        Just("Content-Type: message/delivery-status\n".to_owned()),
        Just("Content-Type: message/feedback-report\n".to_owned()),
        Just("Content-Type: message/rfc822\n".to_owned()),
        Just("Content-Type: text/rfc822-headers\n".to_owned()),
        Just("Content-Transfer-Encoding: base64\n".to_owned()),
        Just("Content-Transfer-Encoding: quoted-printable\n".to_owned()),
        Just("--b\n".to_owned()),
        Just("--b--\n".to_owned()),
        Just("\n".to_owned()),
        Just(" folded continuation\n".to_owned()),
        Just("Final-Recipient: rfc822; a@example.net\n".to_owned()),
        Just("Action: failed\n".to_owned()),
        Just("Action: delayed\n".to_owned()),
        Just("Status: 5.1.1\n".to_owned()),
        Just("Diagnostic-Code: smtp; 550 5.1.1 user unknown\n".to_owned()),
        Just("Feedback-Type: abuse\n".to_owned()),
        Just("Original-Rcpt-To: <b@example.net>\n".to_owned()),
        Just("Return-Path: <rebond+c1.p2.abcdefghij@bounces.example.org>\n".to_owned()),
        Just("------ This is a copy of the message, including all the headers. ------\n".to_owned()),
        Just("  c@example.net\n".to_owned()),
        "[ -~\n]{0,80}",
        "\\PC{0,40}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(raw in prop::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse(&raw);
    }

    #[test]
    fn mail_shaped_input_never_panics(parts in prop::collection::vec(mail_fragment(), 0..60)) {
        let raw = parts.concat();
        if let Ok(report) = parse(raw.as_bytes()) {
            prop_assert!(report.recipients.len() <= MAX_RECIPIENTS);
            for r in &report.recipients {
                prop_assert!(r.diagnostic.as_ref().is_none_or(|d| d.chars().count() <= MAX_DIAGNOSTIC));
            }
        }
    }

    #[test]
    fn mutated_samples_never_panic(
        index in 0usize..12,
        flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..16),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
        splice in prop::collection::vec(any::<u8>(), 0..64),
        splice_at in any::<prop::sample::Index>(),
    ) {
        let mut raw = samples()[index].1.to_vec();
        for (at, byte) in flips {
            let i = at.index(raw.len());
            raw[i] = byte;
        }
        let at = splice_at.index(raw.len());
        raw.splice(at..at, splice);
        if truncate {
            raw.truncate(cut.index(raw.len() + 1));
        }
        let _ = parse(&raw);
    }

    #[test]
    fn verp_roundtrips(
        key in prop::collection::vec(any::<u8>(), 1..64),
        campaign in any::<i64>(),
        person in any::<i64>(),
        other in any::<i64>(),
    ) {
        let address = verp_address(&key, PREFIX, "bounces.example.org", campaign, person);
        prop_assert_eq!(verp_decode(&key, PREFIX, &address), Some((campaign, person)));
        prop_assert_eq!(verp_decode(&key, PREFIX, &address.to_uppercase()), Some((campaign, person)));
        if other != person {
            let forged = address.replacen(&format!(".p{person}."), &format!(".p{other}."), 1);
            prop_assert_eq!(verp_decode(&key, PREFIX, &forged), None);
        }
    }

    #[test]
    fn verp_decode_never_panics(s in "\\PC{0,200}") {
        let _ = verp_decode(KEY, PREFIX, &s);
    }
}
