//! Domain types that parse on construction: once built, a value is valid, so the code past the
//! edge never re-checks it.

use std::fmt;

use time::{OffsetDateTime, UtcOffset};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct ParseError(pub String);

/// A token that is safe inside a NATS subject and a KV key: `[A-Za-z0-9_-]`, 1..=64 characters.
fn parse_token(kind: &str, value: &str) -> Result<String, ParseError> {
    if value.is_empty() || value.len() > 64 {
        return Err(ParseError(format!("{kind} must be 1 to 64 characters")));
    }
    if !value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(ParseError(format!(
            "{kind} may contain only ASCII letters, digits, '-' and '_'"
        )));
    }
    Ok(value.to_owned())
}

macro_rules! token_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: &str) -> Result<$name, ParseError> {
                parse_token($kind, value).map($name)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

token_type!(
    /// A channel (portal, app, hotline system, mailbox) as configured.
    ChannelId,
    "channel id"
);
token_type!(
    /// A handling unit (承办单位) of the unit directory.
    UnitId,
    "unit id"
);

/// 行政区划代码: 6 digits (county), 9 (township) or 12 (village).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DivisionCode(String);

impl DivisionCode {
    pub fn parse(value: &str) -> Result<DivisionCode, ParseError> {
        if matches!(value.len(), 6 | 9 | 12) && value.bytes().all(|b| b.is_ascii_digit()) {
            Ok(DivisionCode(value.to_owned()))
        } else {
            Err(ParseError(
                "division code must be 6, 9 or 12 digits (county, township, village)".into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// China Standard Time: tracking numbers carry the acceptance date as petitioners know it.
pub const CHINA_TIME: UtcOffset = match UtcOffset::from_hms(8, 0, 0) {
    Ok(offset) => offset,
    Err(_) => panic!("UTC+8 is a valid offset"),
};

/// 受理编号: `<PREFIX><YYYYMMDD>-<sequence>`, e.g. `MH20261127-0000042`. The sequence is the
/// petition's sequence in the intake stream, so the number is unique, and it is derived again
/// from the stored message on every retry. It is also the case id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TrackingNumber {
    text: String,
    intake_sequence: u64,
}

impl TrackingNumber {
    pub fn new(prefix: &str, accepted_at: OffsetDateTime, intake_sequence: u64) -> TrackingNumber {
        let date = accepted_at.to_offset(CHINA_TIME).date();
        let text = format!(
            "{prefix}{:04}{:02}{:02}-{intake_sequence:07}",
            date.year(),
            u8::from(date.month()),
            date.day()
        );
        TrackingNumber {
            text,
            intake_sequence,
        }
    }

    /// Parses a tracking number a petitioner typed (surrounding white space tolerated).
    pub fn parse(prefix: &str, value: &str) -> Result<TrackingNumber, ParseError> {
        let invalid = || ParseError("not a tracking number".into());
        let value = value.trim();
        let rest = value.strip_prefix(prefix).ok_or_else(invalid)?;
        let (date, sequence) = rest.split_once('-').ok_or_else(invalid)?;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        if sequence.len() < 7 || !sequence.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        let intake_sequence = sequence.parse().map_err(|_| invalid())?;
        Ok(TrackingNumber {
            text: value.to_owned(),
            intake_sequence,
        })
    }

    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn intake_sequence(&self) -> u64 {
        self.intake_sequence
    }
}

impl fmt::Display for TrackingNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// A reception session (领导下访接访) id: `RS<YYYYMMDD>-<suffix>`, the session's day in China time
/// and 4 to 8 capital letters or digits, e.g. `RS20261211-7K3Q`. Subject- and key-safe.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(String);

impl SessionId {
    /// The id of a session on `day` with `suffix` (capital letters and digits).
    pub fn new(day: time::Date, suffix: &str) -> SessionId {
        SessionId(format!(
            "RS{:04}{:02}{:02}-{suffix}",
            day.year(),
            u8::from(day.month()),
            day.day()
        ))
    }

    pub fn parse(value: &str) -> Result<SessionId, ParseError> {
        let invalid = || ParseError("not a reception session id (RS<YYYYMMDD>-<suffix>)".into());
        let rest = value.strip_prefix("RS").ok_or_else(invalid)?;
        let (date, suffix) = rest.split_once('-').ok_or_else(invalid)?;
        if date.len() != 8 || !date.bytes().all(|b| b.is_ascii_digit()) {
            return Err(invalid());
        }
        if !(4..=8).contains(&suffix.len())
            || !suffix
                .bytes()
                .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        {
            return Err(invalid());
        }
        Ok(SessionId(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for SessionId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn tokens_refuse_subject_wildcards_and_separators() {
        assert!(ChannelId::parse("web-portal_2").is_ok());
        for bad in ["", "a.b", "a*", ">", "a b", "门户", &"x".repeat(65)] {
            assert!(ChannelId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn division_codes_are_county_township_or_village() {
        for good in ["330726", "330726101", "330726101201"] {
            assert!(DivisionCode::parse(good).is_ok());
        }
        for bad in ["33072", "3307261", "33072610a", "", "3307261012011"] {
            assert!(DivisionCode::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tracking_number_uses_the_china_date_and_round_trips() {
        // 17:00 UTC is 01:00 the next day in China.
        let number = TrackingNumber::new("MH", datetime!(2026-11-26 17:00 UTC), 42);
        assert_eq!(number.as_str(), "MH20261127-0000042");
        let parsed = TrackingNumber::parse("MH", " MH20261127-0000042 ").unwrap();
        assert_eq!(parsed, number);
        assert_eq!(parsed.intake_sequence(), 42);
        let big = TrackingNumber::new("MH", datetime!(2026-11-27 01:00 UTC), 123_456_789);
        assert_eq!(
            TrackingNumber::parse("MH", big.as_str())
                .unwrap()
                .intake_sequence(),
            123_456_789
        );
    }

    #[test]
    fn tracking_number_refuses_garbage() {
        for bad in [
            "",
            "MH",
            "XX20261127-0000042",
            "MH2026112-0000042",
            "MH20261127-42",
        ] {
            assert!(
                TrackingNumber::parse("MH", bad).is_err(),
                "{bad:?} accepted"
            );
        }
    }

    #[test]
    fn session_ids_carry_the_day_and_refuse_anything_else() {
        let id = SessionId::new(time::macros::date!(2026 - 12 - 11), "7K3Q");
        assert_eq!(id.as_str(), "RS20261211-7K3Q");
        assert_eq!(SessionId::parse("RS20261211-7K3Q").unwrap(), id);
        for bad in [
            "",
            "RS20261211",
            "RS2026121-7K3Q",
            "RS20261211-7k3q",
            "RS20261211-7K3",
            "RS20261211-7K3Q.x",
            "XS20261211-7K3Q",
        ] {
            assert!(SessionId::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
