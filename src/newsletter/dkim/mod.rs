//! DKIM signing (RFC 6376), rsa-sha256 with relaxed/relaxed canonicalisation.
//!
//! Relaxed body canonicalisation is used because the simple one breaks as soon as any
//! relay re-wraps or re-encodes whitespace (lettre's simple/relaxed default failed
//! dkimpy verification).

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{KeyPair, RSA_PKCS1_SHA256, RsaKeyPair};
use ring::digest;
#[cfg(target_arch = "x86_64")]
use std::sync::OnceLock;
use std::sync::{Arc, Mutex, PoisonError, Weak};

#[cfg(target_arch = "x86_64")]
mod batch;
#[cfg(target_arch = "x86_64")]
mod ifma;

/// Header fields signed when present, in this order. RFC 8058 requires List-Unsubscribe and
/// List-Unsubscribe-Post to be covered by the signature.
const SIGNED_HEADERS: &[&str] = &[
    "From",
    "To",
    "Subject",
    "Date",
    "Message-ID",
    "MIME-Version",
    "Content-Type",
    "List-Id",
    "List-Unsubscribe",
    "List-Unsubscribe-Post",
    "Reply-To",
];

#[derive(Debug, thiserror::Error)]
pub enum DkimError {
    #[error("invalid PEM: {0}")]
    Pem(String),
    #[error("invalid RSA private key: {0}")]
    Key(String),
    #[error("invalid DKIM {0}: {1:?}")]
    Name(&'static str, String),
}

pub struct DkimSigner {
    domain: String,
    selector: String,
    key: RsaKeyPair,
    rng: SystemRandom,
    /// The private key's DER, for the batch signer (built at its first use).
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    der: Vec<u8>,
    #[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
    pkcs8: bool,
    #[cfg(target_arch = "x86_64")]
    batch: OnceLock<Option<batch::Batcher>>,
}

impl std::fmt::Debug for DkimSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DkimSigner").field("domain", &self.domain).field("selector", &self.selector).finish()
    }
}

impl DkimSigner {
    /// Loads a PKCS#1 ("BEGIN RSA PRIVATE KEY") or PKCS#8 ("BEGIN PRIVATE KEY") PEM key.
    pub fn from_pem(domain: &str, selector: &str, pem: &str) -> Result<DkimSigner, DkimError> {
        let valid_name =
            |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'));
        if !valid_name(domain) {
            return Err(DkimError::Name("domain", domain.to_owned()));
        }
        if !valid_name(selector) {
            return Err(DkimError::Name("selector", selector.to_owned()));
        }
        let (label, der) = parse_pem(pem)?;
        let key = match label {
            "RSA PRIVATE KEY" => RsaKeyPair::from_der(&der).map_err(|e| DkimError::Key(e.to_string()))?,
            "PRIVATE KEY" => RsaKeyPair::from_pkcs8(&der).map_err(|e| DkimError::Key(e.to_string()))?,
            other => {
                return Err(DkimError::Pem(format!("unsupported PEM block {other:?} (need an unencrypted RSA key)")));
            }
        };
        Ok(DkimSigner {
            domain: domain.to_owned(),
            selector: selector.to_owned(),
            key,
            rng: SystemRandom::new(),
            pkcs8: label == "PRIVATE KEY",
            der,
            #[cfg(target_arch = "x86_64")]
            batch: OnceLock::new(),
        })
    }

    /// One signer per key in the process, shared by the campaigns and shards it sends (and by their signing
    /// threads); dropped with its last user.
    pub fn shared(domain: &str, selector: &str, pem: &str) -> Result<Arc<DkimSigner>, DkimError> {
        static SIGNERS: Mutex<Vec<(String, Weak<DkimSigner>)>> = Mutex::new(Vec::new());
        let id = format!("{domain}\n{selector}\n{pem}");
        let mut signers = SIGNERS.lock().unwrap_or_else(PoisonError::into_inner);
        signers.retain(|(_, s)| s.strong_count() > 0);
        if let Some(signer) = signers.iter().find(|(i, _)| *i == id).and_then(|(_, s)| s.upgrade()) {
            return Ok(signer);
        }
        let signer = Arc::new(DkimSigner::from_pem(domain, selector, pem)?);
        signers.push((id, Arc::downgrade(&signer)));
        Ok(signer)
    }

    /// The TXT record to publish at `<selector>._domainkey.<domain>`.
    pub fn dns_record(&self) -> String {
        // Wrap the PKCS#1 RSAPublicKey into a SubjectPublicKeyInfo, as DKIM verifiers expect.
        let pkcs1 = self.key.public_key().as_ref();
        let mut bit_string = Vec::with_capacity(pkcs1.len() + 1);
        bit_string.push(0); // no unused bits
        bit_string.extend_from_slice(pkcs1);
        let mut spki_body = Vec::with_capacity(pkcs1.len() + 32);
        // AlgorithmIdentifier { rsaEncryption, NULL }
        spki_body.extend_from_slice(&[
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
        ]);
        der_push(&mut spki_body, 0x03, &bit_string);
        let mut spki = Vec::with_capacity(spki_body.len() + 4);
        der_push(&mut spki, 0x30, &spki_body);
        format!("v=DKIM1; k=rsa; p={}", data_encoding::BASE64.encode(&spki))
    }

    /// Returns the folded "DKIM-Signature: …\r\n" header to prepend to `message`
    /// (a CRLF message as built by `mime::build`), timestamped now.
    pub fn sign(&self, message: &[u8]) -> Vec<u8> {
        self.sign_at(message, crate::db::now().max(0) as u64)
    }

    /// Signs and inserts the DKIM-Signature header at the start of `message`.
    pub fn sign_prepend(&self, message: &mut Vec<u8>) {
        let header = self.sign(message);
        message.splice(0..0, header);
    }

    /// Like [`sign`](Self::sign) with an explicit `t=` timestamp (unix seconds).
    pub fn sign_at(&self, message: &[u8], timestamp: u64) -> Vec<u8> {
        let (header, data) = self.unsigned_header(message, timestamp);
        let signature = self.sign_data(&data);
        finish_header(header, &signature)
    }

    /// Like [`sign_prepend`](Self::sign_prepend), the signature made in a batch with other tasks' messages where
    /// the processor allows it (see [`ifma`]); the task should hold a [`producer`](Self::producer) meanwhile.
    pub async fn sign_prepend_batched(&self, message: &mut Vec<u8>) {
        let (header, data) = self.unsigned_header(message, crate::db::now().max(0) as u64);
        let batched = self.sign_batched(&data).await;
        let signature = match &batched {
            Some(signature) => signature.to_vec(),
            None => self.sign_data(&data),
        };
        message.splice(0..0, finish_header(header, &signature));
    }

    /// The batch signer's signature of `data`, if it has one (see [`sign_prepend_batched`](Self::sign_prepend_batched)).
    async fn sign_batched(&self, data: &[u8]) -> Option<[u8; 256]> {
        #[cfg(target_arch = "x86_64")]
        if let Some(batch) = self.batcher() {
            let digest = digest::digest(&digest::SHA256, data);
            return batch.sign(digest.as_ref().try_into().expect("SHA-256 is 32 bytes")).await;
        }
        let _ = data;
        None
    }

    /// Registers a task that signs messages one after the other with
    /// [`sign_prepend_batched`](Self::sign_prepend_batched), so that batches wait for its next one.
    pub fn producer(&self) -> Option<impl Send + use<>> {
        #[cfg(target_arch = "x86_64")]
        return self.batcher().map(batch::Batcher::producer);
        #[cfg(not(target_arch = "x86_64"))]
        None::<()>
    }

    /// The batch signer, if this processor and key allow it and it signs exactly as aws-lc does.
    #[cfg(target_arch = "x86_64")]
    fn batcher(&self) -> Option<&batch::Batcher> {
        self.batch
            .get_or_init(|| {
                let parts = rsa_parts(&self.der, self.pkcs8)?;
                let key = ifma::Key::new(&ifma::Parts {
                    n: parts[1],
                    e: parts[2],
                    p: parts[4],
                    q: parts[5],
                    dp: parts[6],
                    dq: parts[7],
                    qinv: parts[8],
                })?;
                let batcher = batch::Batcher::new(key);
                // PKCS#1 v1.5 signatures are deterministic: both must give the same bytes.
                let data = b"terrain: batch DKIM self-test";
                let digest = digest::digest(&digest::SHA256, data);
                let ours = batcher.sign_now(digest.as_ref().try_into().expect("32 bytes"));
                if ours.as_ref().map(|s| &s[..]) != Some(&self.sign_data(data)[..]) {
                    tracing::error!("batch DKIM signer disagrees with aws-lc; signing one message at a time");
                    return None;
                }
                Some(batcher)
            })
            .as_ref()
    }

    /// The RSA signature of already canonicalised data, by aws-lc.
    fn sign_data(&self, data: &[u8]) -> Vec<u8> {
        let mut sig = vec![0u8; self.key.public_modulus_len()];
        self.key
            .sign(&RSA_PKCS1_SHA256, &self.rng, data, &mut sig)
            .expect("RSA signing cannot fail with a correctly sized buffer");
        sig
    }

    /// The DKIM-Signature header up to "b=", and the data its signature covers.
    fn unsigned_header(&self, message: &[u8], timestamp: u64) -> (Vec<u8>, Vec<u8>) {
        let (headers, body) = split_message(message);
        let body_hash = body_hash_relaxed(body);

        let fields = parse_headers(headers);
        let mut signed_names: Vec<&str> = Vec::with_capacity(SIGNED_HEADERS.len());
        // Data to sign: the selected canonicalised headers, then our own header with an empty b=.
        let mut data = Vec::with_capacity(headers.len() + 512);
        let mut used = vec![false; fields.len()];
        for &name in SIGNED_HEADERS {
            // RFC 6376 §5.4.2: use the last not yet signed instance of the field.
            if let Some(i) =
                (0..fields.len()).rev().find(|&i| !used[i] && fields[i].0.eq_ignore_ascii_case(name.as_bytes()))
            {
                used[i] = true;
                signed_names.push(name);
                canon_header_relaxed(fields[i].0, fields[i].1, &mut data);
                data.extend_from_slice(b"\r\n");
            }
        }

        let mut header = Vec::with_capacity(700);
        header.extend_from_slice(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=");
        header.extend_from_slice(self.domain.as_bytes());
        header.extend_from_slice(b"; s=");
        header.extend_from_slice(self.selector.as_bytes());
        header.extend_from_slice(format!("; t={timestamp};\r\n h=").as_bytes());
        let mut col = 3;
        for (i, name) in signed_names.iter().enumerate() {
            if i > 0 {
                header.push(b':');
                col += 1;
            }
            if col + name.len() + 1 > 78 {
                header.extend_from_slice(b"\r\n ");
                col = 1;
            }
            header.extend_from_slice(name.to_ascii_lowercase().as_bytes());
            col += name.len();
        }
        header.extend_from_slice(b";\r\n bh=");
        header.extend_from_slice(data_encoding::BASE64.encode(body_hash.as_ref()).as_bytes());
        header.extend_from_slice(b";\r\n b=");

        // The header being created is hashed with an empty b= and without its final CRLF.
        let colon = header.iter().position(|&b| b == b':').expect("header has a colon");
        canon_header_relaxed(&header[..colon], &header[colon + 1..], &mut data);
        (header, data)
    }
}

/// Appends the signature to the header from [`DkimSigner::unsigned_header`], b= folded into lines of at most 78
/// characters (" b=" takes 3 on the first one).
fn finish_header(mut header: Vec<u8>, signature: &[u8]) -> Vec<u8> {
    let b64 = data_encoding::BASE64.encode(signature);
    let mut rest = b64.as_bytes();
    let mut room = 78 - 3;
    while !rest.is_empty() {
        let n = rest.len().min(room);
        header.extend_from_slice(&rest[..n]);
        rest = &rest[n..];
        if !rest.is_empty() {
            header.extend_from_slice(b"\r\n ");
            room = 77;
        }
    }
    header.extend_from_slice(b"\r\n");
    header
}

/// The nine integers of a PKCS#1 RSAPrivateKey (version, n, e, d, p, q, dp, dq, qinv), from its DER or from a
/// PKCS#8 PrivateKeyInfo holding one; None if the structure is not that.
#[cfg_attr(not(target_arch = "x86_64"), allow(dead_code))]
fn rsa_parts(der: &[u8], pkcs8: bool) -> Option<[&[u8]; 9]> {
    /// (tag, content, rest)
    fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
        let (&tag, rest) = input.split_first()?;
        let (&first, mut rest) = rest.split_first()?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let k = usize::from(first & 0x7f);
            if k == 0 || k > 4 || rest.len() < k {
                return None;
            }
            let len = rest[..k].iter().fold(0usize, |a, &b| a << 8 | usize::from(b));
            rest = &rest[k..];
            len
        };
        (rest.len() >= len).then(|| (tag, &rest[..len], &rest[len..]))
    }
    let mut der = der;
    if pkcs8 {
        let (0x30, info, _) = tlv(der)? else { return None };
        let (0x02, _, rest) = tlv(info)? else { return None };
        let (0x30, _, rest) = tlv(rest)? else { return None };
        let (0x04, key, _) = tlv(rest)? else { return None };
        der = key;
    }
    let (0x30, mut rest, _) = tlv(der)? else { return None };
    let mut ints = [&[][..]; 9];
    for int in &mut ints {
        let (0x02, value, next) = tlv(rest)? else { return None };
        *int = value;
        rest = next;
    }
    Some(ints)
}

/// DER TLV with a definite length.
fn der_push(out: &mut Vec<u8>, tag: u8, content: &[u8]) {
    out.push(tag);
    let len = content.len();
    if len < 0x80 {
        out.push(len as u8);
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|&&b| b == 0).count();
        out.push(0x80 | (bytes.len() - skip) as u8);
        out.extend_from_slice(&bytes[skip..]);
    }
    out.extend_from_slice(content);
}

/// Returns the label and the decoded content of the first PEM block.
fn parse_pem(pem: &str) -> Result<(&str, Vec<u8>), DkimError> {
    let begin = pem.find("-----BEGIN ").ok_or_else(|| DkimError::Pem("no BEGIN line".into()))?;
    let after = &pem[begin + 11..];
    let label_end = after.find("-----").ok_or_else(|| DkimError::Pem("malformed BEGIN line".into()))?;
    let label = &after[..label_end];
    let body = &after[label_end + 5..];
    let end_marker = format!("-----END {label}-----");
    let end = body.find(&end_marker).ok_or_else(|| DkimError::Pem(format!("missing {end_marker}")))?;
    let body = &body[..end];
    if body.contains(':') {
        return Err(DkimError::Pem("encrypted PEM keys are not supported".into()));
    }
    let b64: Vec<u8> = body.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    let der = data_encoding::BASE64.decode(&b64).map_err(|e| DkimError::Pem(e.to_string()))?;
    Ok((label, der))
}

/// Splits a message into its header block (including the final line break of the last
/// field) and its body. LF-only messages are accepted too.
fn split_message(message: &[u8]) -> (&[u8], &[u8]) {
    let mut pos = 0;
    while pos < message.len() {
        let nl = match message[pos..].iter().position(|&b| b == b'\n') {
            Some(n) => pos + n,
            None => return (message, &[]),
        };
        let line = &message[pos..nl];
        if line.is_empty() || line == b"\r" {
            return (&message[..pos], &message[nl + 1..]);
        }
        pos = nl + 1;
    }
    (message, &[])
}

/// Header fields as (name, raw value including folding, excluding the final line break).
fn parse_headers(headers: &[u8]) -> Vec<(&[u8], &[u8])> {
    fn push<'a>(field: &'a [u8], fields: &mut Vec<(&'a [u8], &'a [u8])>) {
        let mut field = field;
        while let [rest @ .., b'\r' | b'\n'] = field {
            field = rest;
        }
        if let Some(colon) = field.iter().position(|&b| b == b':') {
            let mut name = &field[..colon];
            while let [rest @ .., b' ' | b'\t'] = name {
                name = rest;
            }
            fields.push((name, &field[colon + 1..]));
        }
    }
    let mut fields = Vec::with_capacity(24);
    let mut start = None::<usize>;
    let mut pos = 0;
    while pos < headers.len() {
        let next = headers[pos..].iter().position(|&b| b == b'\n').map_or(headers.len(), |n| pos + n + 1);
        if !matches!(headers[pos], b' ' | b'\t') {
            if let Some(s) = start {
                push(&headers[s..pos], &mut fields);
            }
            start = Some(pos);
        }
        pos = next;
    }
    if let Some(s) = start {
        push(&headers[s..], &mut fields);
    }
    fields
}

/// Relaxed header canonicalisation (RFC 6376 §3.4.2), without the trailing CRLF:
/// lowercase name, unfold, compress whitespace runs to one space, trim around the colon
/// and at the end.
pub fn canon_header_relaxed(name: &[u8], value: &[u8], out: &mut Vec<u8>) {
    for &b in name {
        if !matches!(b, b' ' | b'\t') {
            out.push(b.to_ascii_lowercase());
        }
    }
    out.push(b':');
    let mut pending_space = false;
    let mut any = false;
    for &b in value {
        match b {
            b'\r' | b'\n' => {}
            b' ' | b'\t' => pending_space = true,
            _ => {
                if pending_space && any {
                    out.push(b' ');
                }
                pending_space = false;
                any = true;
                out.push(b);
            }
        }
    }
}

/// SHA-256 of the relaxed canonical body (RFC 6376 §3.4.4), streamed line by line:
/// whitespace runs become one space, trailing whitespace is removed, trailing empty lines
/// are dropped, and a non-empty body ends with CRLF.
///
/// The bodies we build are already canonical almost everywhere (CRLF breaks, quoted-printable lines that never
/// end in a space): runs of lines that need no change are hashed as they are, in one piece, and only the other
/// lines are rewritten.
pub fn body_hash_relaxed(body: &[u8]) -> digest::Digest {
    let mut ctx = digest::Context::new(&digest::SHA256);
    let double_space = memchr::memmem::Finder::new(b"  ");
    let mut line_buf = Vec::new();
    let mut empty_lines = 0usize;
    // body[span.0..span.1]: canonical lines not hashed yet.
    let mut span = (0, 0);
    let mut pos = 0;
    while pos < body.len() {
        let (end, next) = match memchr::memchr(b'\n', &body[pos..]) {
            Some(n) => (pos + n, pos + n + 1),
            None => (body.len(), body.len()),
        };
        let raw = &body[pos..end];
        // The CR of a CRLF belongs to the line break; lone CRs elsewhere are content.
        let line = raw.strip_suffix(b"\r").unwrap_or(raw);
        let as_is = next > end
            && line.len() < raw.len()
            && line.last().is_some_and(|&b| b != b' ' && b != b'\t')
            && memchr::memchr(b'\t', line).is_none()
            && double_space.find(line).is_none();
        if as_is && empty_lines == 0 && span.1 == pos {
            span.1 = next;
        } else {
            ctx.update(&body[span.0..span.1]);
            span = (next, next);
            let canonical = if as_is {
                line
            } else {
                line_buf.clear();
                relaxed_line(line, &mut line_buf);
                &line_buf
            };
            if canonical.is_empty() {
                empty_lines += 1;
            } else {
                for _ in 0..empty_lines {
                    ctx.update(b"\r\n");
                }
                empty_lines = 0;
                if as_is {
                    span = (pos, next);
                } else {
                    ctx.update(canonical);
                    ctx.update(b"\r\n");
                }
            }
        }
        pos = next;
    }
    ctx.update(&body[span.0..span.1]);
    ctx.finish()
}

/// One line in relaxed form: whitespace runs become one space, trailing whitespace goes.
fn relaxed_line(line: &[u8], out: &mut Vec<u8>) {
    let mut pending_space = false;
    for &b in line {
        match b {
            b' ' | b'\t' => pending_space = true,
            _ => {
                if pending_space {
                    out.push(b' ');
                    pending_space = false;
                }
                out.push(b);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};
    use std::process::Command;

    const PYTHON: &str = "/usr/bin/python3";

    struct TempDir(PathBuf);

    impl TempDir {
        fn new(tag: &str) -> TempDir {
            static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("nl-dkim-{tag}-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).unwrap();
            TempDir(dir)
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn relaxed_header_canonicalisation() {
        let mut out = Vec::new();
        canon_header_relaxed(b"SubJect ", b" \t AbC  \r\n\t def \t", &mut out);
        assert_eq!(out, b"subject:AbC def");
        // RFC 6376 §3.4.6 example.
        let headers = b"A: X\r\nB : Y\t\r\n\tZ  \r\n";
        let fields = parse_headers(headers);
        assert_eq!(fields.len(), 2);
        let mut out = Vec::new();
        for (name, value) in fields {
            canon_header_relaxed(name, value, &mut out);
            out.extend_from_slice(b"\r\n");
        }
        assert_eq!(out, b"a:X\r\nb:Y Z\r\n");
    }

    #[test]
    fn relaxed_body_canonicalisation() {
        let sha = |b: &[u8]| digest::digest(&digest::SHA256, b).as_ref().to_vec();
        let hash = |b: &[u8]| body_hash_relaxed(b).as_ref().to_vec();
        // RFC 6376 §3.4.6 example.
        assert_eq!(hash(b" C \r\nD \t E\r\n\r\n\r\n"), sha(b" C\r\nD E\r\n"));
        assert_eq!(hash(b" C \nD \t E\n\n \t\n"), sha(b" C\r\nD E\r\n"));
        assert_eq!(hash(b""), sha(b""));
        assert_eq!(hash(b"\r\n\r\n"), sha(b""));
        assert_eq!(hash(b"no final newline  "), sha(b"no final newline\r\n"));
        assert_eq!(hash(b"a\r\n\r\nb\r\n"), sha(b"a\r\n\r\nb\r\n"));
        assert_eq!(hash(b"lone\rcr\r\n"), sha(b"lone\rcr\r\n"));
    }

    /// The line-by-line canonicalisation `body_hash_relaxed` must agree with.
    fn reference_body_hash(body: &[u8]) -> Vec<u8> {
        let mut canonical = Vec::new();
        let mut empty_lines = 0;
        let mut lines: Vec<&[u8]> = body.split(|&b| b == b'\n').collect();
        if body.ends_with(b"\n") {
            lines.pop();
        }
        for line in lines {
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            let mut out = Vec::new();
            relaxed_line(line, &mut out);
            if out.is_empty() {
                empty_lines += 1;
            } else {
                canonical.extend(b"\r\n".repeat(empty_lines));
                empty_lines = 0;
                canonical.extend(out);
                canonical.extend(b"\r\n");
            }
        }
        digest::digest(&digest::SHA256, &canonical).as_ref().to_vec()
    }

    proptest::proptest! {
        #[test]
        fn body_hash_agrees_with_the_line_by_line_reference(
            body in proptest::collection::vec(
                proptest::prop_oneof![6 => proptest::strategy::Just(b'a'), 2 => proptest::strategy::Just(b' '),
                    1 => proptest::strategy::Just(b'\t'), 2 => proptest::strategy::Just(b'\r'),
                    3 => proptest::strategy::Just(b'\n'), 1 => proptest::strategy::Just(b'.')],
                0..200,
            )
        ) {
            proptest::prop_assert_eq!(body_hash_relaxed(&body).as_ref().to_vec(), reference_body_hash(&body));
        }
    }

    #[test]
    fn split_and_parse() {
        let (h, b) = split_message(b"A: 1\r\nB: 2\r\n 3\r\n\r\nbody\r\n");
        assert_eq!(h, b"A: 1\r\nB: 2\r\n 3\r\n");
        assert_eq!(b, b"body\r\n");
        let (h, b) = split_message(b"A: 1\nB: 2\n\nbody\n");
        assert_eq!((h, b), (&b"A: 1\nB: 2\n"[..], &b"body\n"[..]));
        let fields = parse_headers(h);
        assert_eq!(fields, vec![(&b"A"[..], &b" 1"[..]), (&b"B"[..], &b" 2"[..])]);
    }

    #[test]
    fn rejects_bad_input() {
        assert!(matches!(DkimSigner::from_pem("example.org", "s1", "nope"), Err(DkimError::Pem(_))));
        assert!(matches!(DkimSigner::from_pem("exa mple.org", "s1", "x"), Err(DkimError::Name(..))));
        assert!(matches!(DkimSigner::from_pem("example.org", "s;1", "x"), Err(DkimError::Name(..))));
        let garbage = "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(DkimSigner::from_pem("example.org", "s1", garbage), Err(DkimError::Key(_))));
    }

    /// PKCS#1 PEM, PKCS#8 PEM and the public key as base64 SPKI, from `openssl`.
    struct Keys {
        pkcs1: String,
        pkcs8: String,
        public_b64: String,
    }

    fn openssl(args: &[&str]) -> Option<()> {
        let out = Command::new("openssl").args(args).output().ok()?;
        out.status.success().then_some(())
    }

    fn generate_keys(dir: &Path) -> Option<Keys> {
        let p = |n: &str| dir.join(n).to_str().unwrap().to_owned();
        openssl(&["genrsa", "-out", &p("gen.pem"), "2048"])?;
        openssl(&["pkcs8", "-topk8", "-nocrypt", "-in", &p("gen.pem"), "-out", &p("pkcs8.pem")])?;
        // OpenSSL 3 needs -traditional for PKCS#1; 1.1 writes PKCS#1 by default.
        openssl(&["rsa", "-in", &p("gen.pem"), "-traditional", "-out", &p("pkcs1.pem")])
            .or_else(|| openssl(&["rsa", "-in", &p("gen.pem"), "-out", &p("pkcs1.pem")]))?;
        openssl(&["rsa", "-in", &p("gen.pem"), "-pubout", "-out", &p("pub.pem")])?;
        let read = |n: &str| std::fs::read_to_string(dir.join(n)).unwrap();
        let public_b64 = read("pub.pem").lines().filter(|l| !l.starts_with("-----")).collect::<String>();
        Some(Keys { pkcs1: read("pkcs1.pem"), pkcs8: read("pkcs8.pem"), public_b64 })
    }

    fn tools_available(test: &str) -> bool {
        let dkimpy =
            Command::new(PYTHON).args(["-c", "import dkim"]).output().map(|o| o.status.success()).unwrap_or(false);
        let openssl = Command::new("openssl").arg("version").output().map(|o| o.status.success()).unwrap_or(false);
        if !dkimpy || !openssl {
            println!("SKIPPED {test}: needs openssl ({openssl}) and {PYTHON} with dkimpy ({dkimpy})");
        }
        dkimpy && openssl
    }

    /// Runs dkimpy's verifier on `message` with a fake DNS answering `record`.
    fn dkimpy_verify(dir: &Path, message: &[u8], record: &str) -> bool {
        std::fs::write(dir.join("msg.eml"), message).unwrap();
        std::fs::write(dir.join("record.txt"), record).unwrap();
        let script = r#"
import sys, dkim
d = sys.argv[1]
msg = open(d + '/msg.eml', 'rb').read()
rec = open(d + '/record.txt', 'rb').read()
asked = []
def dnsfunc(name, timeout=5):
    asked.append(name)
    return rec if name.rstrip(b'.') == b'sel2026._domainkey.terrain.example.org' else None
ok = dkim.verify(msg, dnsfunc=dnsfunc)
print('VERIFY', ok, asked)
"#;
        let out = Command::new(PYTHON).arg("-c").arg(script).arg(dir).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success(), "dkimpy failed: {stdout} {}", String::from_utf8_lossy(&out.stderr));
        assert!(stdout.contains("sel2026._domainkey.terrain.example.org"), "{stdout}");
        stdout.contains("VERIFY True")
    }

    fn newsletter(reply_to: Option<&str>) -> Vec<u8> {
        let https = format!("https://terrain.example.org/desabonnement/c12/3456?token={}", "Zm9vYmFy".repeat(8));
        let env = super::super::mime::Envelope {
            from_name: "Fédération du Rhône — Parti de l'Exemple",
            from_address: "federation-69@terrain.example.org",
            reply_to,
            to: "Marie Dupont-de-la-Longue-Lignée <marie.dupont@example.net>",
            subject: "Réunion publique à Villeurbanne : venez nombreux défendre nos services publics, \
                      l'école et l'hôpital — inscription obligatoire",
            message_id: "c12.r3456.1767225600@terrain.example.org",
            date: 1_767_225_600,
            list_id: "Lettre du Rhône <lettre-69.terrain.example.org>",
            unsubscribe_https: &https,
            unsubscribe_mailto: "mailto:desabonnement+c12.3456@terrain.example.org?subject=unsubscribe",
            extra_headers: &[("X-Terrain-Campaign", "12")],
        };
        let text = "Bonjour Marie,\n\n.Ligne avec un point.\nÀ bientôt !\n\n\n";
        let html = "<p style=\"margin:0\">Bonjour <b>Marie</b>,</p>\n<p>À bientôt !</p>\n";
        let mut out = Vec::new();
        super::super::mime::build(&env, text, html, &mut out);
        out
    }

    #[test]
    fn signatures_verify_with_dkimpy() {
        if !tools_available("signatures_verify_with_dkimpy") {
            return;
        }
        let dir = TempDir::new("verify");
        let keys = generate_keys(&dir.0).expect("openssl key generation");
        let record = format!("v=DKIM1; k=rsa; p={}", keys.public_b64);
        for (kind, pem) in [("pkcs1", &keys.pkcs1), ("pkcs8", &keys.pkcs8)] {
            assert!(pem.contains(if kind == "pkcs1" { "BEGIN RSA PRIVATE KEY" } else { "BEGIN PRIVATE KEY" }));
            let signer = DkimSigner::from_pem("terrain.example.org", "sel2026", pem).unwrap();
            assert_eq!(signer.dns_record(), record, "SPKI built from the key matches openssl's");
            for reply_to in [Some("contact-69@terrain.example.org"), None] {
                let mut message = newsletter(reply_to);
                let header = signer.sign(&message);
                let header_str = std::str::from_utf8(&header).unwrap();
                assert!(header.ends_with(b"\r\n"));
                for line in header_str.trim_end().split("\r\n") {
                    assert!(line.len() <= 78, "{line}");
                }
                let h_tag: String =
                    header_str.split("h=").nth(1).unwrap().split(';').next().unwrap().split_whitespace().collect();
                assert_eq!(h_tag.contains(":reply-to"), reply_to.is_some(), "{h_tag}");
                assert!(h_tag.contains("list-unsubscribe:list-unsubscribe-post"), "{h_tag}");
                message.splice(0..0, header.iter().copied());
                assert!(dkimpy_verify(&dir.0, &message, &record), "{kind} reply_to={reply_to:?}:\n{header_str}");

                // Tampering with a signed header or the body must fail.
                let s = String::from_utf8(message.clone()).unwrap();
                let tampered = s.replacen("X-Terrain-Campaign: 12", "X-Terrain-Campaign: 13", 1);
                assert!(dkimpy_verify(&dir.0, tampered.as_bytes(), &record), "unsigned header may change");
                let tampered = s.replacen("Subject: =?utf-8?Q?R", "Subject: =?utf-8?Q?X", 1);
                assert!(!dkimpy_verify(&dir.0, tampered.as_bytes(), &record));
                let tampered = s.replacen("Bonjour Marie", "Bonjour Paul", 1);
                assert!(!dkimpy_verify(&dir.0, tampered.as_bytes(), &record));
            }
        }

        // Awkward whitespace and folding, signed as LF text, verified after conversion to CRLF
        // (what the SMTP client puts on the wire).
        let signer = DkimSigner::from_pem("terrain.example.org", "sel2026", &keys.pkcs8).unwrap();
        let raw = "From:   Someone \t <a@terrain.example.org>\nTo: b@example.net\nSubject: folded\n\t subject  line \
                   \nDate: Thu, 01 Jan 2026 00:00:00 +0000\nMessage-ID: <x@y>\n\n  leading\ttabs  and  spaces   \n\
                   \n\ntext\t \n\n\n\n";
        let mut signed = signer.sign(raw.as_bytes());
        signed.extend_from_slice(raw.as_bytes());
        let mut crlf = Vec::new();
        super::super::smtp::dot_stuff(&signed, &mut crlf);
        assert!(dkimpy_verify(&dir.0, &crlf, &record));

        // sign_prepend is sign + insert.
        let mut message = newsletter(None);
        signer.sign_prepend(&mut message);
        assert!(
            message.starts_with(b"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n d=terrain.example.org;")
        );
        assert!(dkimpy_verify(&dir.0, &message, &record));
    }

    /// `cargo test --release dkim_sign_rate -- --ignored --nocapture`
    #[test]
    #[ignore]
    fn dkim_sign_rate() {
        if !tools_available("dkim_sign_rate") {
            return;
        }
        let dir = TempDir::new("rate");
        let keys = generate_keys(&dir.0).expect("openssl key generation");
        let signer = DkimSigner::from_pem("terrain.example.org", "sel2026", &keys.pkcs1).unwrap();
        let message = newsletter(Some("contact-69@terrain.example.org"));
        let start = std::time::Instant::now();
        let mut n = 0u32;
        while start.elapsed() < std::time::Duration::from_secs(3) {
            std::hint::black_box(signer.sign(std::hint::black_box(&message)));
            n += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "DKIM rsa2048 signing: {n} signatures in {secs:.2}s = {:.0}/s ({} byte message)",
            n as f64 / secs,
            message.len()
        );
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
mod batch_tests;
