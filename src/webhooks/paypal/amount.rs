//! PayPal decimal amount strings → integer minor units, exactly (docs/integrations.md §7: never
//! through `f64`, which cannot represent most cent values).

use huckleberry_functions::events::Currency;

use crate::webhooks::AmountError;

/// How many fraction digits PayPal allows in an amount of `currency`, for the currencies PayPal
/// supports (developer.paypal.com "Currency codes"). `None` for a currency PayPal does not
/// support, rather than a guess that could misprice by a factor of 100.
///
/// PayPal's table, not ISO 4217's: PayPal treats HUF and TWD as having no decimals.
#[must_use]
pub fn minor_unit_digits(currency: &Currency) -> Option<u32> {
    match currency.as_str() {
        "jpy" | "huf" | "twd" => Some(0),
        "aud" | "brl" | "cad" | "cny" | "czk" | "dkk" | "eur" | "hkd" | "ils" | "myr" | "mxn"
        | "nzd" | "nok" | "php" | "pln" | "gbp" | "sgd" | "sek" | "chf" | "thb" | "usd" => Some(2),
        _ => None,
    }
}

/// Parses a non-negative plain decimal (`250`, `250.5`, `250.00`) into minor units of a
/// currency with `digits` fraction digits: `("250.5", 2)` → `25050`, `("3000", 0)` → `3000`.
///
/// # Errors
/// [`AmountError::NotDecimal`] for anything but `digits[.digits]` (signs, exponents, spaces,
/// a bare `.`), [`AmountError::TooPrecise`] for more fraction digits than `digits`,
/// [`AmountError::Overflow`] beyond `i64`.
pub fn parse_minor_units(value: &str, digits: u32) -> Result<i64, AmountError> {
    let (whole, fraction) = match value.split_once('.') {
        Some((whole, fraction)) => (whole, Some(fraction)),
        None => (value, None),
    };
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if !all_digits(whole) || fraction.is_some_and(|f| !all_digits(f)) {
        return Err(AmountError::NotDecimal);
    }
    let fraction = fraction.unwrap_or("");
    let fraction_len = u32::try_from(fraction.len()).map_err(|_| AmountError::TooPrecise)?;
    if fraction_len > digits {
        // "1.50" USD is fine, "1.005" USD or "1.5" JPY is not a real price: refuse, not round.
        return Err(AmountError::TooPrecise);
    }
    let scale = 10_i64.checked_pow(digits).ok_or(AmountError::Overflow)?;
    let whole: i64 = whole.parse().map_err(|_| AmountError::Overflow)?;
    let fraction_value: i64 = if fraction.is_empty() {
        0
    } else {
        // At most `digits` (≤ 18) digits, so this parse cannot overflow; pad to `digits`.
        let padding = 10_i64
            .checked_pow(digits - fraction_len)
            .ok_or(AmountError::Overflow)?;
        fraction
            .parse::<i64>()
            .map_err(|_| AmountError::Overflow)?
            .checked_mul(padding)
            .ok_or(AmountError::Overflow)?
    };
    whole
        .checked_mul(scale)
        .and_then(|w| w.checked_add(fraction_value))
        .ok_or(AmountError::Overflow)
}

#[cfg(test)]
#[allow(
    clippy::unwrap_used,
    reason = "a panic is the failure report in a test"
)]
mod tests {
    use super::*;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn usd_amounts_become_cents() {
        assert_eq!(parse_minor_units("250.00", 2), Ok(25_000));
        assert_eq!(parse_minor_units("250.5", 2), Ok(25_050));
        assert_eq!(parse_minor_units("250", 2), Ok(25_000));
        assert_eq!(parse_minor_units("0.01", 2), Ok(1));
        assert_eq!(parse_minor_units("2.51", 2), Ok(251));
        assert_eq!(parse_minor_units("0.29", 2), Ok(29)); // 0.29 * 100.0 == 28.999… in f64
    }

    #[test]
    fn jpy_amounts_are_whole_yen() {
        let digits = minor_unit_digits(&currency("JPY")).unwrap();

        assert_eq!(digits, 0);
        assert_eq!(parse_minor_units("30000", digits), Ok(30_000));
    }

    #[test]
    fn jpy_with_a_fraction_is_too_precise() {
        assert_eq!(
            parse_minor_units("30000.5", 0),
            Err(AmountError::TooPrecise)
        );
        assert_eq!(
            parse_minor_units("30000.0", 0),
            Err(AmountError::TooPrecise)
        );
    }

    #[test]
    fn usd_with_three_fraction_digits_is_too_precise() {
        assert_eq!(parse_minor_units("1.005", 2), Err(AmountError::TooPrecise));
    }

    #[test]
    fn anything_but_a_plain_decimal_is_rejected() {
        for bad in [
            "", ".", "1.", ".5", "-1.00", "+1.00", "1e3", " 1.00", "1.00 ", "1,00", "1.0.0", "NaN",
            "０.１", "1_000",
        ] {
            assert_eq!(
                parse_minor_units(bad, 2),
                Err(AmountError::NotDecimal),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn amounts_beyond_i64_overflow() {
        assert_eq!(
            parse_minor_units("92233720368547758.08", 2),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            parse_minor_units("99999999999999999999", 0),
            Err(AmountError::Overflow)
        );
        assert_eq!(parse_minor_units("92233720368547758.07", 2), Ok(i64::MAX));
    }

    #[test]
    fn paypal_currency_table_knows_its_exceptions() {
        assert_eq!(minor_unit_digits(&currency("usd")), Some(2));
        assert_eq!(minor_unit_digits(&currency("EUR")), Some(2));
        assert_eq!(minor_unit_digits(&currency("huf")), Some(0));
        assert_eq!(minor_unit_digits(&currency("kwd")), None);
    }
}
