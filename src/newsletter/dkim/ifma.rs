//! RSA-2048 PKCS#1 v1.5 signatures, four at a time, with AVX-512 IFMA.
//!
//! OpenSSL and aws-lc sign one message at a time: their IFMA code runs the two 1024-bit CRT exponentiations side by
//! side in one 512-bit register, about a quarter of whose lanes are padding and which spends much of its time
//! carrying limbs between lanes. Here each of the eight 64-bit lanes holds a whole number (the multi-buffer layout of
//! Intel's crypto_mb): lanes 0-3 the halves modulo p of four messages, lanes 4-7 their halves modulo q. A Montgomery
//! multiplication is then 1,600 fused 52-bit multiply-adds with no lane crossing, and the processor's one IFMA unit
//! is busy all the time: four signatures cost about 0.6 of what four single ones cost in aws-lc (measured here).
//!
//! Each signature is verified with the public exponent before it is returned (a fault in one half of the CRT would
//! otherwise reveal the key), and a signature that does not verify is not returned: the caller signs that message
//! with aws-lc instead. The key is also checked against aws-lc at its first use (same signature, byte for byte:
//! PKCS#1 v1.5 is deterministic), see `DkimSigner::batcher`.
//!
//! Side channels: the exponentiation is a fixed 4-bit window whose table is read whole at each step (the secret
//! exponent selects lanes with masks, not addresses), every multiplication does the same work whatever the values,
//! and final subtractions are masked. The message is blinded as OpenSSL does it: multiplied by r^e before the
//! exponentiation and by r^-1 after, with (r^e, r^-1) squared from one batch to the next and drawn afresh every
//! [`REFRESH`] batches (the inverse from Fermat's little theorem, with the same constant-time exponentiation).

// Limb code indexes several arrays with one index; the unrolled steps have empty ranges at their ends.
#![allow(clippy::needless_range_loop, clippy::reversed_empty_ranges)]

use core::arch::x86_64::*;

type V = __m512i;

/// 52-bit limbs of a number modulo p or q: 1,040 bits, R = 2^1040 is the Montgomery radix.
const L: usize = 20;
const MASK: u64 = (1 << 52) - 1;
const LANES: usize = 8;
/// Messages signed together.
pub const BATCH: usize = 4;
/// Batches signed with one blinding pair (squared each time) before a new one is drawn.
const REFRESH: u32 = 32;

/// A number per lane, limb j of every lane in row j (so that a row loads as one vector).
#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Num([[u64; LANES]; L]);

#[repr(C, align(64))]
#[derive(Clone, Copy)]
struct Row([u64; LANES]);

impl Num {
    const ZERO: Num = Num([[0; LANES]; L]);

    fn set_lane(&mut self, lane: usize, limbs: &[u64; L]) {
        for (row, &limb) in self.0.iter_mut().zip(limbs) {
            row[lane] = limb;
        }
    }

    fn lane(&self, lane: usize) -> [u64; L] {
        std::array::from_fn(|j| self.0[j][lane])
    }

    /// The same number in lanes 0-3 and another in lanes 4-7.
    fn halves(p: &[u64; L], q: &[u64; L]) -> Num {
        let mut n = Num::ZERO;
        for lane in 0..LANES {
            n.set_lane(lane, if lane < BATCH { p } else { q });
        }
        n
    }
}

/// Lanes 0-3 modulo p, lanes 4-7 modulo q.
struct Modulus {
    n: Num,
    /// -n^-1 mod 2^52, per lane.
    k0: Row,
}

/// Loads a row. Volatile, so that the compiler keeps operands in memory (IFMA takes one memory operand) instead of
/// hoisting forty of them into registers and spilling the accumulators.
#[inline]
fn ld(row: &[u64; LANES]) -> V {
    // SAFETY: a row is 64 bytes, aligned to 64 (Num and Row are align(64), rows are 64 bytes each).
    unsafe { core::ptr::read_volatile(row.as_ptr().cast::<V>()) }
}

#[inline]
fn st(row: &mut [u64; LANES], v: V) {
    // SAFETY: as in `ld`.
    unsafe { core::ptr::write(row.as_mut_ptr().cast::<V>(), v) }
}

/// Repeats a block with a constant `$i` from 0 to 19, so that the accumulator window of each step is known at
/// compile time and stays in registers.
macro_rules! rep20 {
    ($i:ident, $body:block) => {
        rep20!(@ 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19; $i, $body)
    };
    (@ $($n:literal)*; $i:ident, $body:block) => {
        $( { const $i: usize = $n; $body } )*
    };
}

/// Almost Montgomery multiplication a·b/R mod n, in each lane. With a, b < 4n (and 4n < R / 4 here) the result is
/// < 2n, so results feed further multiplications without a final subtraction.
#[target_feature(enable = "avx512f,avx512ifma")]
fn amm(a: &Num, b: &Num, m: &Modulus) -> Num {
    let mut out = Num::ZERO;
    amm_to(a, b, m, &mut out);
    out
}

/// [`amm`] into `out` (the exponentiation's loop ping-pongs between two numbers instead of copying results).
#[target_feature(enable = "avx512f,avx512ifma")]
fn amm_to(a: &Num, b: &Num, m: &Modulus, out: &mut Num) {
    let zero = _mm512_setzero_si512();
    let k0 = ld(&m.k0.0);
    let mut acc = [zero; 2 * L];
    rep20!(I, {
        mac_row::<I>(&mut acc, a, ld(&b.0[I]));
        reduce_column::<I>(&mut acc, m, k0);
    });
    normalize(&acc[L..], out);
}

/// acc[I..=I+20] += x·s: one row of a product, low halves in place, high halves one column up.
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn mac_row<const I: usize>(acc: &mut [V; 2 * L], x: &Num, s: V) {
    for j in 0..L {
        acc[I + j] = _mm512_madd52lo_epu64(acc[I + j], ld(&x.0[j]), s);
    }
    for j in 0..L {
        acc[I + j + 1] = _mm512_madd52hi_epu64(acc[I + j + 1], ld(&x.0[j]), s);
    }
}

/// Montgomery step at column I: adds the multiple of n that clears the column's low 52 bits, then carries the
/// column into the next one.
#[target_feature(enable = "avx512f,avx512ifma")]
#[inline]
fn reduce_column<const I: usize>(acc: &mut [V; 2 * L], m: &Modulus, k0: V) {
    let y = _mm512_madd52lo_epu64(_mm512_setzero_si512(), acc[I], k0);
    mac_row::<I>(acc, &m.n, y);
    let carry = _mm512_srli_epi64::<52>(acc[I]);
    acc[I + 1] = _mm512_add_epi64(acc[I + 1], carry);
}

/// Almost Montgomery squaring: a²/R mod n, as [`amm`] with the same bounds, in three quarters of its work. The
/// square is computed first (each cross product once, then doubled), by halves of 20 columns that stay in
/// registers, then reduced.
#[target_feature(enable = "avx512f,avx512ifma")]
fn ams(a: &Num, m: &Modulus) -> Num {
    let mut out = Num::ZERO;
    ams_to(a, m, &mut out);
    out
}

#[target_feature(enable = "avx512f,avx512ifma")]
fn ams_to(a: &Num, m: &Modulus, out: &mut Num) {
    let zero = _mm512_setzero_si512();
    // The square's 40 columns, left uninitialised (both calls write all of them).
    let mut t = core::mem::MaybeUninit::<[V; 2 * L]>::uninit();
    let columns = t.as_mut_ptr().cast::<V>();
    square_columns::<0>(a, columns);
    square_columns::<L>(a, columns);
    // SAFETY: column k < 40 was written above. Volatile, so that the columns enter the registers as the reduction
    // reaches them (all forty at once would not fit).
    let column = |k: usize| unsafe { core::ptr::read_volatile(columns.add(k)) };
    let mut acc = [zero; 2 * L];
    for k in 0..L {
        acc[k] = column(k);
    }
    let k0 = ld(&m.k0.0);
    rep20!(I, {
        acc[I + L] = column(I + L);
        reduce_column::<I>(&mut acc, m, k0);
    });
    normalize(&acc[L..], out);
}

/// Columns BASE..BASE+20 of a², not normalized, written to `columns` (40 vectors).
#[target_feature(enable = "avx512f,avx512ifma")]
fn square_columns<const BASE: usize>(a: &Num, columns: *mut V) {
    let mut c = [_mm512_setzero_si512(); L];
    rep20!(I, {
        let ai = ld(&a.0[I]);
        // Products a_I·a_j (j > I) whose low half lands in these columns (I + j), then whose high half does
        // (I + j + 1): constant bounds, so that the loops unroll with the columns in registers.
        let from = |k: usize| if I + 1 > BASE.saturating_sub(k) { I + 1 } else { BASE - k };
        let to = |k: usize| if BASE + L - k < L { BASE + L - k } else { L };
        for j in from(I)..to(I) {
            c[I + j - BASE] = _mm512_madd52lo_epu64(c[I + j - BASE], ai, ld(&a.0[j]));
        }
        for j in from(I + 1)..to(I + 1) {
            c[I + j + 1 - BASE] = _mm512_madd52hi_epu64(c[I + j + 1 - BASE], ai, ld(&a.0[j]));
        }
    });
    for x in &mut c {
        *x = _mm512_add_epi64(*x, *x);
    }
    rep20!(I, {
        if (BASE..BASE + L).contains(&(2 * I)) {
            let ai = ld(&a.0[I]);
            c[2 * I - BASE] = _mm512_madd52lo_epu64(c[2 * I - BASE], ai, ai);
            c[2 * I + 1 - BASE] = _mm512_madd52hi_epu64(c[2 * I + 1 - BASE], ai, ai);
        }
    });
    for (k, &x) in c.iter().enumerate() {
        // SAFETY: `columns` has room for 40 vectors, aligned (an array of them).
        unsafe { core::ptr::write(columns.add(BASE + k), x) };
    }
}

/// Carries limbs of up to 64 bits into 52-bit limbs.
#[target_feature(enable = "avx512f")]
fn normalize(limbs: &[V], out: &mut Num) {
    let mask = _mm512_set1_epi64(MASK as i64);
    let mut c = _mm512_setzero_si512();
    for (j, &limb) in limbs.iter().enumerate() {
        let t = _mm512_add_epi64(limb, c);
        c = _mm512_srli_epi64::<52>(t);
        st(&mut out.0[j], _mm512_and_si512(t, mask));
    }
}

#[target_feature(enable = "avx512f")]
fn add(a: &Num, b: &Num) -> Num {
    let sums: [V; L] = std::array::from_fn(|j| _mm512_add_epi64(ld(&a.0[j]), ld(&b.0[j])));
    let mut out = Num::ZERO;
    normalize(&sums, &mut out);
    out
}

/// a − b with the borrow out of the top limb per lane (1 where a < b).
#[target_feature(enable = "avx512f")]
fn sub(a: &Num, b: &Num) -> (Num, V) {
    let mask = _mm512_set1_epi64(MASK as i64);
    let mut out = Num::ZERO;
    let mut borrow = _mm512_setzero_si512();
    for j in 0..L {
        let t = _mm512_sub_epi64(_mm512_sub_epi64(ld(&a.0[j]), ld(&b.0[j])), borrow);
        borrow = _mm512_srli_epi64::<63>(t);
        st(&mut out.0[j], _mm512_and_si512(t, mask));
    }
    (out, borrow)
}

/// x mod n for x < 2n, in constant time.
#[target_feature(enable = "avx512f")]
fn reduce(x: &Num, n: &Num) -> Num {
    let (d, borrow) = sub(x, n);
    let keep = _mm512_cmpneq_epi64_mask(borrow, _mm512_setzero_si512());
    let mut out = Num::ZERO;
    for j in 0..L {
        st(&mut out.0[j], _mm512_mask_blend_epi64(keep, ld(&d.0[j]), ld(&x.0[j])));
    }
    out
}

/// x^e for a public exponent e (the same in every lane), Montgomery form in and out.
#[target_feature(enable = "avx512f,avx512ifma")]
fn pow_public(x: &Num, e: u64, m: &Modulus) -> Num {
    let mut acc = *x;
    for bit in (0..63 - e.leading_zeros()).rev() {
        acc = ams(&acc, m);
        if e >> bit & 1 == 1 {
            acc = amm(&acc, x, m);
        }
    }
    acc
}

/// x^exp per lane for secret 1024-bit exponents (16 words, little-endian), Montgomery form in and out; `one` is
/// R mod n. A fixed 4-bit window: 1,024 squarings and 256 multiplications by a table entry selected with masks.
#[target_feature(enable = "avx512f,avx512ifma")]
fn pow_secret(x: &Num, exp: &[[u64; 16]; LANES], m: &Modulus, one: &Num) -> Num {
    let mut table = [Num::ZERO; 16];
    table[0] = *one;
    table[1] = *x;
    for t in 2..16 {
        table[t] = amm(&table[t - 1], x, m);
    }
    let (mut first, mut second) = (*one, Num::ZERO);
    let (mut acc, mut spare) = (&mut first, &mut second);
    for w in (0..256).rev() {
        if w != 255 {
            for _ in 0..4 {
                ams_to(acc, m, spare);
                std::mem::swap(&mut acc, &mut spare);
            }
        }
        let mut idx = Row([0; LANES]);
        for (lane, e) in exp.iter().enumerate() {
            idx.0[lane] = (e[w / 16] >> ((w % 16) * 4)) & 15;
        }
        let iv = ld(&idx.0);
        let mut sel = [_mm512_setzero_si512(); L];
        for (t, entry) in table.iter().enumerate() {
            let hit = _mm512_cmpeq_epi64_mask(iv, _mm512_set1_epi64(t as i64));
            for j in 0..L {
                sel[j] = _mm512_mask_blend_epi64(hit, sel[j], ld(&entry.0[j]));
            }
        }
        let mut s = Num::ZERO;
        for j in 0..L {
            st(&mut s.0[j], sel[j]);
        }
        amm_to(acc, &s, m, spare);
        std::mem::swap(&mut acc, &mut spare);
    }
    *acc
}

/// Lanes 0-3 and 4-7 swapped.
#[target_feature(enable = "avx512f")]
fn swap_halves(x: &Num) -> Num {
    let mut out = Num::ZERO;
    for j in 0..L {
        let v = ld(&x.0[j]);
        st(&mut out.0[j], _mm512_shuffle_i64x2::<0b01_00_11_10>(v, v));
    }
    out
}

/// The blinding pair of each lane: r^e·R and r^-1·R modulo its prime.
#[derive(Clone)]
pub struct Blinding {
    a: Num,
    ai: Num,
    uses: u32,
}

/// An RSA-2048 key prepared for batch signing.
pub struct Key {
    m: Modulus,
    /// R, R² and R³ (R = 2^1040) modulo each lane's prime.
    one: Num,
    rr: Num,
    rrr: Num,
    /// 1, to leave the Montgomery form.
    unit: Num,
    /// dp in lanes 0-3, dq in lanes 4-7; p−2 and q−2 (for inverses).
    exp: [[u64; 16]; LANES],
    exp_inv: [[u64; 16]; LANES],
    /// qinv·R mod p and 2p in lanes 0-3 (zero in 4-7).
    qinv_r: Num,
    two_p: Num,
    q: [u64; 16],
    e: u64,
}

/// The private key's numbers, big-endian as in the DER encoding.
pub struct Parts<'a> {
    pub n: &'a [u8],
    pub e: &'a [u8],
    pub p: &'a [u8],
    pub q: &'a [u8],
    pub dp: &'a [u8],
    pub dq: &'a [u8],
    pub qinv: &'a [u8],
}

/// Whether this processor has what [`Key`] needs.
pub fn supported() -> bool {
    std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512ifma")
}

impl Key {
    /// None when the key is not one this code signs with (not 2048 bits, unbalanced primes, large e) or the
    /// processor lacks IFMA.
    pub fn new(parts: &Parts<'_>) -> Option<Key> {
        if !supported() {
            return None;
        }
        let n = words::<32>(parts.n)?;
        let p = words::<16>(parts.p)?;
        let q = words::<16>(parts.q)?;
        let e = words::<1>(parts.e)?[0];
        if n[31] >> 63 != 1 || e < 3 || e % 2 == 0 || e >> 32 != 0 {
            return None;
        }
        // Both primes of 1024 bits (then q < 2p and p < 2q, which the CRT step below needs), p·q = n.
        if p[15] >> 63 != 1 || q[15] >> 63 != 1 || mul(&p, &q) != n {
            return None;
        }
        let dp = words::<16>(parts.dp)?;
        let dq = words::<16>(parts.dq)?;
        let qinv = words::<16>(parts.qinv)?;
        let (p52, q52) = (limbs52(&p), limbs52(&q));
        let k0 = |m: &[u64; 16]| {
            let mut inv: u64 = 1;
            for _ in 0..6 {
                inv = inv.wrapping_mul(2u64.wrapping_sub(m[0].wrapping_mul(inv)));
            }
            inv.wrapping_neg() & MASK
        };
        let pow2 = |k: usize, m: &[u64; 16]| limbs52(&shl_mod(&one_word(), k, m));
        let mut k0s = Row([0; LANES]);
        for lane in 0..LANES {
            k0s.0[lane] = if lane < BATCH { k0(&p) } else { k0(&q) };
        }
        let minus2 = |m: &[u64; 16]| {
            let mut x = *m;
            let mut borrow = 2;
            for w in &mut x {
                let (d, b) = w.overflowing_sub(borrow);
                *w = d;
                borrow = u64::from(b);
            }
            x
        };
        let mut exp = [[0; 16]; LANES];
        let mut exp_inv = [[0; 16]; LANES];
        for lane in 0..LANES {
            exp[lane] = if lane < BATCH { dp } else { dq };
            exp_inv[lane] = if lane < BATCH { minus2(&p) } else { minus2(&q) };
        }
        let zero = [0u64; L];
        let mut unit52 = [0u64; L];
        unit52[0] = 1;
        let two_p = {
            let mut t = [0u64; 17];
            t[..16].copy_from_slice(&p);
            let doubled = shl_small(&t);
            limbs52(&doubled)
        };
        Some(Key {
            m: Modulus { n: Num::halves(&p52, &q52), k0: k0s },
            one: Num::halves(&pow2(1040, &p), &pow2(1040, &q)),
            rr: Num::halves(&pow2(2080, &p), &pow2(2080, &q)),
            rrr: Num::halves(&pow2(3120, &p), &pow2(3120, &q)),
            unit: Num::halves(&unit52, &unit52),
            exp,
            exp_inv,
            qinv_r: Num::halves(&limbs52(&shl_mod(&qinv, 1040, &p)), &zero),
            two_p: Num::halves(&two_p, &zero),
            q,
            e,
        })
    }

    /// A fresh blinding state (drawn at its first use).
    pub fn blinding(&self) -> Blinding {
        Blinding { a: Num::ZERO, ai: Num::ZERO, uses: REFRESH }
    }

    /// Signs up to [`BATCH`] SHA-256 digests; None for a signature that failed its verification.
    pub fn sign(&self, blinding: &mut Blinding, digests: &[[u8; 32]]) -> Vec<Option<[u8; 256]>> {
        assert!(digests.len() <= BATCH, "at most {BATCH} digests per batch");
        assert!(supported(), "Key exists only where IFMA does");
        // SAFETY: `Key::new` checked that the processor has AVX-512F and IFMA.
        unsafe { self.sign_ifma(blinding, digests) }
    }

    #[target_feature(enable = "avx512f,avx512ifma")]
    fn sign_ifma(&self, blinding: &mut Blinding, digests: &[[u8; 32]]) -> Vec<Option<[u8; 256]>> {
        let m = &self.m;
        if blinding.uses >= REFRESH {
            *blinding = self.new_blinding();
        }
        // The encoded messages, each in its two lanes, in Montgomery form (from the 2,080-bit split lo + hi·R).
        let (mut lo, mut hi) = (Num::ZERO, Num::ZERO);
        for (slot, digest) in digests.iter().enumerate() {
            let (l, h) = split(&words::<32>(&pkcs1_sha256(digest)).expect("256 bytes are 32 words"));
            for lane in [slot, slot + BATCH] {
                lo.set_lane(lane, &l);
                hi.set_lane(lane, &h);
            }
        }
        let xm = add(&amm(&lo, &self.rr, m), &amm(&hi, &self.rrr, m));
        let m_mod = reduce(&amm(&xm, &self.unit, m), &m.n);

        // Blinded CRT halves.
        let xb = amm(&xm, &blinding.a, m);
        let y = pow_secret(&xb, &self.exp, m, &self.one);
        let halves = reduce(&amm(&amm(&y, &blinding.ai, m), &self.unit, m), &m.n);
        blinding.a = ams(&blinding.a, m);
        blinding.ai = ams(&blinding.ai, m);
        blinding.uses += 1;

        // Garner: h = qinv·(sp − sq) mod p in lanes 0-3, then s = sq + h·q.
        let (d, _) = sub(&add(&halves, &self.two_p), &swap_halves(&halves));
        let h = reduce(&amm(&d, &self.qinv_r, m), &m.n);
        let mut sigs: Vec<[u64; 32]> = Vec::with_capacity(digests.len());
        let (mut slo, mut shi) = (Num::ZERO, Num::ZERO);
        for slot in 0..digests.len() {
            let hq = mul(&from52(&h.lane(slot)), &self.q);
            let s = add_words(&hq, &from52(&halves.lane(slot + BATCH)));
            let (l, hh) = split(&s);
            for lane in [slot, slot + BATCH] {
                slo.set_lane(lane, &l);
                shi.set_lane(lane, &hh);
            }
            sigs.push(s);
        }

        // Verification: s^e ≡ m modulo p and modulo q.
        let xs = add(&amm(&slo, &self.rr, m), &amm(&shi, &self.rrr, m));
        let v = reduce(&amm(&pow_public(&xs, self.e, m), &self.unit, m), &m.n);
        let mut diff = _mm512_setzero_si512();
        for j in 0..L {
            diff = _mm512_or_si512(diff, _mm512_xor_si512(ld(&v.0[j]), ld(&m_mod.0[j])));
        }
        let ok = _mm512_cmpeq_epi64_mask(diff, _mm512_setzero_si512());
        sigs.iter()
            .enumerate()
            .map(|(slot, s)| {
                (ok >> slot & 1 == 1 && ok >> (slot + BATCH) & 1 == 1).then(|| {
                    let mut out = [0u8; 256];
                    for (i, w) in s.iter().rev().enumerate() {
                        out[i * 8..i * 8 + 8].copy_from_slice(&w.to_be_bytes());
                    }
                    out
                })
            })
            .collect()
    }

    /// r random below 2^1000 per lane (so below p and q), r^e·R and (r^-1)·R = (r·R)^(p−2)·R^(3−p)… computed as
    /// the Montgomery exponentiation of r·R by p−2, which gives r^(p−2)·R = r^-1·R.
    #[target_feature(enable = "avx512f,avx512ifma")]
    fn new_blinding(&self) -> Blinding {
        let m = &self.m;
        let mut r = Num::ZERO;
        let mut bytes = [0u8; 8 * L];
        for lane in 0..LANES {
            getrandom::getrandom(&mut bytes).expect("the system's random generator");
            let limbs: [u64; L] = std::array::from_fn(|j| {
                let v = u64::from_le_bytes(bytes[j * 8..j * 8 + 8].try_into().expect("8 bytes"));
                if j < 19 { v & MASK } else { v & ((1 << 12) - 1) }
            });
            r.set_lane(lane, &limbs);
        }
        let rm = amm(&r, &self.rr, m);
        Blinding { a: pow_public(&rm, self.e, m), ai: pow_secret(&rm, &self.exp_inv, m, &self.one), uses: 0 }
    }
}

/// EMSA-PKCS1-v1_5 for SHA-256 and a 2048-bit modulus.
fn pkcs1_sha256(digest: &[u8; 32]) -> [u8; 256] {
    const PREFIX: [u8; 19] = [
        0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04,
        0x20,
    ];
    let mut em = [0xffu8; 256];
    em[0] = 0;
    em[1] = 1;
    em[256 - 52] = 0;
    em[256 - 51..256 - 32].copy_from_slice(&PREFIX);
    em[256 - 32..].copy_from_slice(digest);
    em
}

/// A big-endian number as N little-endian words; None if it does not fit.
fn words<const N: usize>(be: &[u8]) -> Option<[u64; N]> {
    let be = &be[be.iter().take_while(|&&b| b == 0).count()..];
    if be.len() > N * 8 {
        return None;
    }
    let mut out = [0u64; N];
    for (i, &b) in be.iter().rev().enumerate() {
        out[i / 8] |= u64::from(b) << ((i % 8) * 8);
    }
    Some(out)
}

fn one_word() -> [u64; 16] {
    let mut x = [0; 16];
    x[0] = 1;
    x
}

/// Limb j (52 bits) of a little-endian number.
fn limb52(x: &[u64], j: usize) -> u64 {
    let (w, off) = (j * 52 / 64, j * 52 % 64);
    let lo = x.get(w).map_or(0, |v| v >> off);
    let hi = if off > 12 { x.get(w + 1).map_or(0, |v| v << (64 - off)) } else { 0 };
    (lo | hi) & MASK
}

/// The low 1,040 bits of a number as 20 limbs of 52 bits.
fn limbs52(x: &[u64]) -> [u64; L] {
    std::array::from_fn(|j| limb52(x, j))
}

/// 20 limbs of 52 bits (a number below 2^1024) to 16 words.
fn from52(x: &[u64; L]) -> [u64; 16] {
    let mut out = [0u64; 17];
    for (j, &limb) in x.iter().enumerate() {
        let bit = j * 52;
        let (w, off) = (bit / 64, bit % 64);
        out[w] |= limb << off;
        if off > 12 && w + 1 < 17 {
            out[w + 1] |= limb >> (64 - off);
        }
    }
    out[..16].try_into().expect("16 words")
}

/// A 2048-bit number as (x mod 2^1040, x >> 1040) in 52-bit limbs.
fn split(x: &[u64; 32]) -> ([u64; L], [u64; L]) {
    (limbs52(x), std::array::from_fn(|j| limb52(x, j + L)))
}

fn mul(a: &[u64; 16], b: &[u64; 16]) -> [u64; 32] {
    let mut out = [0u64; 32];
    for (i, &ai) in a.iter().enumerate() {
        let mut carry = 0u128;
        for (j, &bj) in b.iter().enumerate() {
            let t = u128::from(ai) * u128::from(bj) + u128::from(out[i + j]) + carry;
            out[i + j] = t as u64;
            carry = t >> 64;
        }
        out[i + 16] = carry as u64;
    }
    out
}

fn add_words(a: &[u64; 32], b: &[u64; 16]) -> [u64; 32] {
    let mut out = *a;
    let mut carry = 0u64;
    for (i, o) in out.iter_mut().enumerate() {
        let (s1, c1) = o.overflowing_add(if i < 16 { b[i] } else { 0 });
        let (s2, c2) = s1.overflowing_add(carry);
        *o = s2;
        carry = u64::from(c1) | u64::from(c2);
    }
    out
}

fn shl_small(x: &[u64; 17]) -> [u64; 17] {
    let mut out = [0u64; 17];
    for i in (0..17).rev() {
        out[i] = x[i] << 1 | if i > 0 { x[i - 1] >> 63 } else { 0 };
    }
    out
}

/// x·2^k mod m (x < m), by doubling: for the key's constants only, not for secrets in a loop that matters.
fn shl_mod(x: &[u64; 16], k: usize, m: &[u64; 16]) -> [u64; 16] {
    let mut t = [0u64; 17];
    t[..16].copy_from_slice(x);
    let mut wide_m = [0u64; 17];
    wide_m[..16].copy_from_slice(m);
    for _ in 0..k {
        t = shl_small(&t);
        if (0..17).rev().map(|i| t[i].cmp(&wide_m[i])).find(|o| o.is_ne()) != Some(std::cmp::Ordering::Less) {
            let mut borrow = 0u64;
            for i in 0..17 {
                let (d1, b1) = t[i].overflowing_sub(wide_m[i]);
                let (d2, b2) = d1.overflowing_sub(borrow);
                t[i] = d2;
                borrow = u64::from(b1 || b2);
            }
        }
    }
    t[..16].try_into().expect("16 words")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limb_conversions_round_trip() {
        let x: [u64; 16] = std::array::from_fn(|i| 0x9e37_79b9_7f4a_7c15u64.wrapping_mul(i as u64 + 1));
        assert_eq!(from52(&limbs52(&x)), x);
        let mut wide = [0u64; 32];
        wide[..16].copy_from_slice(&x);
        wide[16..].copy_from_slice(&x);
        let (lo, hi) = split(&wide);
        assert!(lo.iter().chain(&hi).all(|&l| l <= MASK));
    }

    #[test]
    fn shl_mod_doubles_modulo() {
        let mut m = [0u64; 16];
        m[0] = 1_009;
        let mut x = [0u64; 16];
        x[0] = 5;
        assert_eq!(shl_mod(&x, 10, &m)[0], 5 * 1024 % 1_009);
        assert_eq!(shl_mod(&x, 100, &m)[0], (5u128 * (1u128 << 100) % 1_009) as u64);
    }

    #[test]
    fn encodes_pkcs1() {
        let em = pkcs1_sha256(&[7; 32]);
        assert_eq!(&em[..3], &[0, 1, 0xff]);
        assert_eq!(em[203], 0xff);
        assert_eq!(em[204], 0);
        assert_eq!(em[205], 0x30);
        assert_eq!(&em[224..], &[7; 32]);
    }
}
