//! Go's `math.Log` family, reproduced bit for bit.
//!
//! The protocol floors or rounds up logarithms right after computing them (suspicion
//! deadlines in whole milliseconds, retransmission counts, push/pull multipliers).
//! Go's `math.Log` is not correctly rounded: `Log(3)` is one unit in the last place
//! below the true value, which moves a suspicion deadline by a millisecond compared
//! with the platform's `ln`. So the same algorithm is evaluated here, step by step.
//!
//! The algorithm is fdlibm's `__ieee754_log` (Sun Microsystems, 1993), which Go uses
//! on amd64 without fused multiply-add: write `x = 2^k × (1 + f)` with `1 + f` in
//! `[√2/2, √2)`, then `ln x = k·ln 2 + ln(1 + f)` where `ln(1 + f)` comes from a
//! degree-14 minimax polynomial in `s = f / (2 + f)`. Go on arm64 fuses some of the
//! multiply-adds and may differ in the last bit; amd64 is the reference here.

use std::f64::consts::{FRAC_1_SQRT_2, LOG10_E, LOG2_E};

/// `ln 2` split so that `k × LN2_HI` is exact for every exponent `k`.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
/// fdlibm's minimax coefficients for `ln(1 + f)`.
const LG1: f64 = f64::from_bits(0x3fe5_5555_5555_5593);
const LG2: f64 = f64::from_bits(0x3fd9_9999_9997_fa04);
const LG3: f64 = f64::from_bits(0x3fd2_4924_9422_9359);
const LG4: f64 = f64::from_bits(0x3fcc_71c5_1d8e_78af);
const LG5: f64 = f64::from_bits(0x3fc7_4664_96cb_03de);
const LG6: f64 = f64::from_bits(0x3fc3_9a09_d078_c69f);
const LG7: f64 = f64::from_bits(0x3fc2_f112_df3e_5244);

/// Splits a positive finite `x` into `frac × 2^exp` with `frac` in `[0.5, 1)`.
fn frexp(x: f64) -> (f64, i32) {
    // Subnormals are first scaled into the normal range.
    let (x, bias) = if x < f64::MIN_POSITIVE {
        (x * f64::from_bits(0x4330_0000_0000_0000), -52) // × 2^52
    } else {
        (x, 0)
    };
    let bits = x.to_bits();
    let exp = ((bits >> 52) & 0x7ff) as i32 - 0x3fe + bias;
    let frac = f64::from_bits((bits & !(0x7ff << 52)) | (0x3fe << 52));
    (frac, exp)
}

/// Natural logarithm, equal to Go's `math.Log(x)` on amd64.
pub fn ln(x: f64) -> f64 {
    if x.is_nan() || x == f64::INFINITY {
        return x;
    }
    if x < 0.0 {
        return f64::NAN;
    }
    if x == 0.0 {
        return f64::NEG_INFINITY;
    }
    let (mut f1, mut k) = frexp(x);
    if f1 < FRAC_1_SQRT_2 {
        f1 *= 2.0;
        k -= 1;
    }
    let f = f1 - 1.0;
    let k = f64::from(k);
    let s = f / (2.0 + f);
    let s2 = s * s;
    let s4 = s2 * s2;
    let odd = s2 * (LG1 + s4 * (LG3 + s4 * (LG5 + s4 * LG7)));
    let even = s4 * (LG2 + s4 * (LG4 + s4 * LG6));
    let r = odd + even;
    let half_f2 = 0.5 * f * f;
    k * LN2_HI - ((half_f2 - (s * (half_f2 + r) + k * LN2_LO)) - f)
}

/// Base-10 logarithm, equal to Go's `math.Log10(x)`: `Log(x) × (1/Ln10)`.
pub fn log10(x: f64) -> f64 {
    ln(x) * LOG10_E
}

/// Base-2 logarithm, equal to Go's `math.Log2(x)`, exact for powers of two.
pub fn log2(x: f64) -> f64 {
    if !(x.is_finite() && x > 0.0) {
        return ln(x) * LOG2_E;
    }
    let (frac, exp) = frexp(x);
    if frac == 0.5 {
        return f64::from(exp - 1);
    }
    ln(frac) * LOG2_E + f64::from(exp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_go_where_the_platform_differs() {
        // Values printed by Go 1.26 on amd64 (math.Log(3), math.Log(9)).
        assert_eq!(ln(3.0), 1.0986122886681096);
        assert_eq!(ln(9.0), 2.1972245773362196);
        assert_ne!(ln(3.0), 3f64.ln(), "the reason this module exists");
        assert_eq!(ln(3.0) / ln(9.0), 0.4999999999999999);
        // More inputs where Go's result is one unit below the correctly rounded one.
        assert_eq!(ln(14.0).to_bits(), 4613125047603149736);
        assert_eq!(ln(48.0).to_bits(), 4615899588515117940);
        assert_eq!(ln(74.0).to_bits(), 4616531964914871068);
        assert_eq!(ln(0.37).to_bits(), 13830502684735539640);
    }

    #[test]
    fn exact_cases_and_special_values() {
        assert_eq!(ln(1.0), 0.0);
        assert_eq!(log10(10.0), 1.0);
        assert_eq!(log10(100.0), 2.0);
        assert_eq!(log10(1000.0), 3.0);
        assert_eq!(log2(32.0), 5.0);
        assert_eq!(log2(1.0), 0.0);
        assert_eq!(ln(0.0), f64::NEG_INFINITY);
        assert!(ln(-1.0).is_nan());
        assert_eq!(ln(f64::INFINITY), f64::INFINITY);
        let tiny = f64::from_bits(1); // smallest subnormal
        assert!((ln(tiny) - tiny.ln()).abs() < 1e-12);
    }

    #[test]
    fn close_to_the_platform_everywhere() {
        for i in 1..10_000u32 {
            let x = f64::from(i) * 0.37;
            assert!((ln(x) - x.ln()).abs() <= 4.0 * f64::EPSILON * x.ln().abs().max(1.0));
            assert!((log2(x) - x.log2()).abs() <= 4.0 * f64::EPSILON * x.log2().abs().max(1.0));
        }
    }
}
