//! The batch signer against aws-lc.

use super::*;
use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::KeySize;

fn generated_pem() -> String {
    let key = aws_lc_rs::rsa::KeyPair::generate(KeySize::Rsa2048).unwrap();
    let der = key.as_der().unwrap();
    format!("-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n", data_encoding::BASE64.encode(der.as_ref()))
}

#[test]
fn parses_the_private_numbers() {
    let pem = generated_pem();
    let (_, der) = parse_pem(&pem).unwrap();
    let parts = rsa_parts(&der, true).unwrap();
    assert_eq!(parts[0], &[0]);
    assert_eq!(parts[2], &[1, 0, 1]);
    assert!(parts[1].len() >= 256 && parts[4].len() >= 128);
    assert!(rsa_parts(&der, false).is_none());
    assert!(rsa_parts(&der[..der.len() - 1], true).is_none());
}

/// Batches of every size, across blinding refreshes, give aws-lc's signatures byte for byte.
#[test]
fn batch_signatures_are_aws_lc_signatures() {
    if !ifma::supported() {
        eprintln!("batch_signatures_are_aws_lc_signatures: no AVX-512 IFMA here, batch signing not used");
        return;
    }
    let pem = generated_pem();
    let signer = DkimSigner::from_pem("terrain.example.org", "s", &pem).unwrap();
    let (_, der) = parse_pem(&pem).unwrap();
    let p = rsa_parts(&der, true).unwrap();
    let key = ifma::Key::new(&ifma::Parts { n: p[1], e: p[2], p: p[4], q: p[5], dp: p[6], dq: p[7], qinv: p[8] })
        .expect("a 2048-bit key");
    let mut blinding = key.blinding();
    let mut n = 0u32;
    for round in 0..40 {
        let size = round % ifma::BATCH + 1;
        let data: Vec<Vec<u8>> = (0..size)
            .map(|_| {
                n += 1;
                format!("message {n}").into_bytes()
            })
            .collect();
        let digests: Vec<[u8; 32]> =
            data.iter().map(|d| digest::digest(&digest::SHA256, d).as_ref().try_into().unwrap()).collect();
        let sigs = key.sign(&mut blinding, &digests);
        assert_eq!(sigs.len(), size);
        for (d, s) in data.iter().zip(sigs) {
            assert_eq!(s.expect("verified").to_vec(), signer.sign_data(d), "round {round}");
        }
    }
}

/// `cargo test --release -- --ignored batch_sign_rate --nocapture`: one core, batches of four vs aws-lc.
#[test]
#[ignore]
fn batch_sign_rate() {
    if !ifma::supported() {
        return;
    }
    let pem = generated_pem();
    let signer = DkimSigner::from_pem("terrain.example.org", "s", &pem).unwrap();
    let (_, der) = parse_pem(&pem).unwrap();
    let p = rsa_parts(&der, true).unwrap();
    let key =
        ifma::Key::new(&ifma::Parts { n: p[1], e: p[2], p: p[4], q: p[5], dp: p[6], dq: p[7], qinv: p[8] }).unwrap();
    let mut blinding = key.blinding();
    let digests = [[1u8; 32], [2; 32], [3; 32], [4; 32]];
    let rate = |f: &mut dyn FnMut() -> u32| {
        let start = std::time::Instant::now();
        let mut n = 0;
        while start.elapsed() < std::time::Duration::from_secs(3) {
            n += f();
        }
        f64::from(n) / start.elapsed().as_secs_f64()
    };
    let batched = rate(&mut || {
        std::hint::black_box(key.sign(&mut blinding, &digests));
        4
    });
    let single = rate(&mut || {
        std::hint::black_box(signer.sign_data(b"data"));
        1
    });
    println!("rsa2048 signatures per second on one core: batches of 4 {batched:.0}, aws-lc {single:.0}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signs_in_batches_from_many_tasks() {
    let pem = generated_pem();
    let signer = Arc::new(DkimSigner::from_pem("terrain.example.org", "s", &pem).unwrap());
    let mut tasks = Vec::new();
    for t in 0..6 {
        let signer = signer.clone();
        tasks.push(tokio::spawn(async move {
            let _producer = signer.producer();
            for i in 0..10 {
                let plain = format!("From: a@b.c\r\nSubject: {t}-{i}\r\n\r\nbody\r\n").into_bytes();
                let mut message = plain.clone();
                signer.sign_prepend_batched(&mut message).await;
                let header = &message[..message.len() - plain.len()];
                assert!(message.ends_with(&plain));
                // aws-lc's header at the same t= is the same, byte for byte (PKCS#1 v1.5 is deterministic).
                let text = String::from_utf8_lossy(header);
                let t_now: u64 = text.split("t=").nth(1).unwrap().split(';').next().unwrap().parse().unwrap();
                assert_eq!(header, &signer.sign_at(&plain, t_now)[..]);
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    assert!(!ifma::supported() || signer.batcher().is_some());
}

/// A wrong CRT half (here a corrupted dq, as a fault would give) never leaves the signer: the signatures fail their
/// check with the public exponent and come back as None (the caller then signs with aws-lc). Keys this code does
/// not handle are refused.
#[test]
fn faulty_halves_are_not_returned() {
    if !ifma::supported() {
        return;
    }
    let pem = generated_pem();
    let (_, der) = parse_pem(&pem).unwrap();
    let p = rsa_parts(&der, true).unwrap();
    let mut dq = p[7].to_vec();
    *dq.last_mut().unwrap() ^= 4;
    let key = ifma::Key::new(&ifma::Parts { n: p[1], e: p[2], p: p[4], q: p[5], dp: p[6], dq: &dq, qinv: p[8] })
        .expect("the structure is valid");
    let sigs = key.sign(&mut key.blinding(), &[[1; 32], [2; 32], [3; 32]]);
    assert_eq!(sigs, vec![None, None, None]);

    // p and q swapped (p·q still n, but qinv is then wrong): refused or caught, never a wrong signature.
    if let Some(key) =
        ifma::Key::new(&ifma::Parts { n: p[1], e: p[2], p: p[5], q: p[4], dp: p[7], dq: p[6], qinv: p[8] })
    {
        assert_eq!(key.sign(&mut key.blinding(), &[[1; 32]]), vec![None]);
    }
    // Not the modulus of these primes, or not 2048 bits: refused.
    let mut n = p[1].to_vec();
    *n.last_mut().unwrap() ^= 2;
    assert!(
        ifma::Key::new(&ifma::Parts { n: &n, e: p[2], p: p[4], q: p[5], dp: p[6], dq: p[7], qinv: p[8] }).is_none()
    );
    assert!(
        ifma::Key::new(&ifma::Parts { n: &p[1][..200], e: p[2], p: p[4], q: p[5], dp: p[6], dq: p[7], qinv: p[8] })
            .is_none()
    );
}
